"""Multiplication with a chain of thought: one partial product per digit of the second operand.

Both operands and every number in the answer are written least-significant digit first. For
each digit ``b_i`` of ``b`` (``i = 0 .. len b - 1``, least significant first) the partial
product ``c_i = b_i * a * 10**i`` is written reversed and right-padded with ``0`` to
``len a + 1 + i`` characters; partial products are joined by ``+``. After ``c_i``, for
``1 <= i < len b - 1`` only, the running sum ``c_0 + ... + c_i`` follows in parentheses (same
padding). Then ``=`` and the reversed product, padded to ``len a + len b``::

    2719 * 1349  ->  prompt "9172*9431="
                     answer "17442+067801(132331)+0075180(1398490)+00091720=13976630"
    59843 * 841  ->  prompt "34895*148="
                     answer "348950+0273932(3653542)+00447874=36972305"
    12 * 3       ->  prompt "21*3="     answer "630=630"
    5 * 7        ->  prompt "5*7="      answer "53=53"
    25 * 40      ->  prompt "52*04="    answer "000+0001=0001"
    123 * 105    ->  prompt "321*501="  answer "5160+00000(51600)+003210=519210"

The last running sum would equal the product, which is why ``i = len b - 1`` has none. The
answer's layout depends on the operand lengths alone, so difficulty is the pair
``(digits of a, digits of b)``; an m x n problem takes n steps (the format is asymmetric).

The consistency twin of ``a * b`` is ``b * a``: a different chain of thought, the same product.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from selfimprove.tasks.addition import DIGITS, MAX_DIGITS, Operands, parse_binary, random_number
from selfimprove.tasks.base import CORRECT, Difficulty, TaskError, Twin, Verdict
from selfimprove.tasks.registry import register


def check_pair(difficulty: Difficulty) -> tuple[int, int]:
    """``(digits_a, digits_b)``, each in ``1..MAX_DIGITS``; a JSON list is accepted too."""
    if isinstance(difficulty, list):
        difficulty = tuple(difficulty)
    if not (isinstance(difficulty, tuple) and len(difficulty) == 2):
        raise TaskError(f"multiplication difficulty must be 'digits_a,digits_b', got {difficulty!r}")
    for value in difficulty:
        if not isinstance(value, int) or not 1 <= value <= MAX_DIGITS:
            raise TaskError(f"operand digits must be in 1..{MAX_DIGITS}, got {difficulty!r}")
    return difficulty  # type: ignore[return-value]


def reversed_padded(n: int, width: int) -> str:
    """``reversed_padded(615, 5) == "51600"``."""
    return str(n)[::-1].ljust(width, "0")


def chain_of_thought(a: int, b: int) -> list[tuple[str, str | None]]:
    """Each step as (partial product, running sum or None), already reversed and padded.

    >>> chain_of_thought(123, 105)
    [('5160', None), ('00000', '51600'), ('003210', None)]
    """
    la, digits_b = len(str(a)), str(b)[::-1]
    steps: list[tuple[str, str | None]] = []
    running = 0
    for i, digit in enumerate(digits_b):
        partial = int(digit) * a * 10**i
        running += partial
        width = la + 1 + i
        shows_sum = 1 <= i < len(digits_b) - 1
        shown = reversed_padded(running, width) if shows_sum else None
        steps.append((reversed_padded(partial, width), shown))
    return steps


def layout(la: int, lb: int) -> str:
    """The answer's shape, every digit written ``d``.

    >>> layout(2, 3)
    'ddd+dddd(dddd)+ddddd=ddddd'
    """
    parts = []
    for i in range(lb):
        part = "d" * (la + 1 + i)
        parts.append(part + (f"({part})" if 1 <= i < lb - 1 else ""))
    return "+".join(parts) + "=" + "d" * (la + lb)


def same_product(original: str, twin: str) -> bool:
    """The chains of thought of a x b and b x a differ (b x a takes len(a) steps); only the
    products must agree. Both are padded to len a + len b, so they are equal as text."""
    if "=" not in original or "=" not in twin:
        return False
    product = original.rpartition("=")[2].strip()
    return product != "" and product == twin.rpartition("=")[2].strip()


class Multiplication:
    """Chain-of-thought multiplication of reversed operands (one class, no options)."""

    name = "multiplication"
    axes = ("digits_a", "digits_b")
    axis_labels = ("digits of a", "digits of b")  # report heatmaps
    example = (3, 2)
    error_family = "cot"  # `analyze errors` compares wrong answers step by step (taxonomy.cot_error)

    def vocabulary(self) -> list[str]:
        return DIGITS + ["*", "+", "(", ")", "="]

    def split(self, text: str) -> list[str]:
        return list(text)

    def check_difficulty(self, difficulty: Difficulty) -> tuple[int, int]:
        return check_pair(difficulty)

    def sample(self, difficulty: Difficulty, rng: random.Random) -> Operands:
        la, lb = check_pair(difficulty)
        return Operands(random_number(la, rng), random_number(lb, rng))

    def sample_initial(self, low: Difficulty, high: Difficulty, rng: random.Random) -> Operands:
        """Each operand's length uniform in its own ``[low_i, high_i]``, drawn independently."""
        (lo_a, lo_b), (hi_a, hi_b) = check_pair(low), check_pair(high)
        if lo_a > hi_a or lo_b > hi_b:
            raise TaskError(f"empty difficulty range {low!r}..{high!r}")
        return self.sample((rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)), rng)

    def difficulty(self, problem: Operands) -> tuple[int, int]:
        return len(str(problem.a)), len(str(problem.b))

    def prompt(self, problem: Operands) -> str:
        return f"{str(problem.a)[::-1]}*{str(problem.b)[::-1]}="

    def parse(self, prompt: str) -> Operands:
        return parse_binary(prompt, "*", reverse=True)

    def solve(self, problem: Operands) -> str:
        steps = chain_of_thought(problem.a, problem.b)
        body = "+".join(c + (f"({s})" if s is not None else "") for c, s in steps)
        la, lb = self.difficulty(problem)
        return f"{body}={reversed_padded(problem.a * problem.b, la + lb)}"

    def verify(self, problem: Operands, answer: str) -> Verdict:
        """Compares with the oracle; the check is "format", "value" (product) or "steps"."""
        expected = self.solve(problem)
        if answer == expected:
            return CORRECT
        shape = layout(*self.difficulty(problem))
        if re.fullmatch(re.escape(shape).replace("d", r"\d"), answer) is None:
            return Verdict(False, "format", f"answer {answer!r} does not have the layout {shape}")
        # Same layout, so the fields line up: compare the product, then step by step.
        got_fields, want_fields = re.findall(r"\d+", answer), re.findall(r"\d+", expected)
        if got_fields[-1] != want_fields[-1]:
            return Verdict(False, "value", f"expected product {want_fields[-1]}, got {got_fields[-1]}")
        wrong = next(i for i, (g, w) in enumerate(zip(got_fields, want_fields)) if g != w)
        return Verdict(
            False, "steps", f"right product, but field {wrong + 1} is {got_fields[wrong]}, "
            f"expected {want_fields[wrong]}"
        )

    def max_answer_len(self, difficulty: Difficulty) -> int:
        """Exact: ``len(layout(la, lb))`` in closed form."""
        la, lb = check_pair(difficulty)
        partials = sum(la + 1 + i for i in range(lb))
        sums = sum(la + 1 + i + 2 for i in range(1, lb - 1))  # digits plus the two parentheses
        return partials + (lb - 1) + sums + 1 + la + lb  # "+" separators, "=", product

    def twins(self, p: Operands, rng: random.Random) -> list[Twin]:
        """b x a; none for a x a (the same prompt)."""
        if p.a == p.b:
            return []
        return [Twin(self.prompt(replace(p, a=p.b, b=p.a)), same_product)]


register("multiplication", lambda **options: Multiplication(**options))
