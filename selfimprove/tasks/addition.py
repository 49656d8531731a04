"""Addition of two positive integers, reversed (least significant digit first) or forward.

Reverse addition writes both operands and the answer least-significant digit first; the answer
is right-padded with ``0`` to ``max(len a, len b) + 1`` digits, so its length is fixed by the
operand lengths::

    12 + 345      ->  prompt "21+543="        answer "7530"
    99 + 1        ->  prompt "99+1="          answer "001"
    85513 + 68719 ->  prompt "31558+91786="   answer "232451"

Forward addition is the plain decimal sum with no padding::

    85513 + 68719 ->  prompt "85513+68719="   answer "154232"

Difficulty is the number of digits ``d``: both operands have ``d`` digits (leading digit
non-zero). Round-0 data draws the two lengths independently from ``{low..high}^2`` when
``independent_lengths`` is set (the paper's default); the problem's difficulty is then the longer
operand's length. With ``nines: p`` a share p of round-0 problems (lengths drawn as the others)
has a run of 1..(shorter length) columns whose digits sum to 9 (``carries.nines_problem``): forward
addition must look through such a run for the carry, and uniform digits rarely make one
(docs/EXPERIMENTS.md FL0). Measured at CPU scale it did not help: half of D0 planted left a
forward base worse on those very runs (FL1, FL2). Self-labelled rounds and evaluations are never
drawn this way.

Consistency twins (``selfimprove.consistency``) of ``a + b``: ``b + a`` and ``(a + d) + (b - d)``
(the same sum re-split, digit counts kept), whose answers equal the label; shifted twins
``a + (b + e)``, whose answer minus ``e`` must equal it; cut twins ``a // 10^k + b // 10^k``, the
sum of the top digits only, at most half as long, which the label's top digits must match up to
the carry coming in from below; split twins, one twin asking two shorter sums (the top digits, and
the low digits with a 1 put in front of each) whose answers fix the label exactly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from selfimprove.tasks.base import CORRECT, Difficulty, TaskError, Twin, Verdict
from selfimprove.tasks.registry import register

DIGITS = list("0123456789")
MAX_DIGITS = 10_000  # a sanity bound for user input, far beyond anything a model decodes


@dataclass(frozen=True)
class Operands:
    """Two positive integers; their digit counts are part of the problem."""

    a: int
    b: int


def random_number(digits: int, rng: random.Random) -> int:
    """Uniform over the ``digits``-digit integers (leading digit non-zero)."""
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def check_digits(difficulty: Difficulty, what: str = "digits") -> int:
    if isinstance(difficulty, tuple) or not isinstance(difficulty, int):
        raise TaskError(f"{what} must be one integer, got {difficulty!r}")
    if not 1 <= difficulty <= MAX_DIGITS:
        raise TaskError(f"{what} must be between 1 and {MAX_DIGITS}, got {difficulty}")
    return difficulty


def parse_number(text: str, reverse: bool, prompt: str) -> int:
    """One operand of a prompt; digits only, no leading zero in the written-out number."""
    if not text or not text.isdigit() or not text.isascii():
        raise TaskError(f"malformed prompt {prompt!r}: operand {text!r} is not a digit string")
    ordinary = text[::-1] if reverse else text
    if ordinary[0] == "0":
        raise TaskError(f"malformed prompt {prompt!r}: operand {text!r} has a leading zero")
    return int(ordinary)


def parse_binary(prompt: str, op: str, reverse: bool) -> Operands:
    match = re.fullmatch(rf"(\d+){re.escape(op)}(\d+)=", prompt)
    if match is None:
        raise TaskError(f"malformed prompt {prompt!r}: expected digits{op}digits=")
    return Operands(*(parse_number(g, reverse, prompt) for g in match.groups()))


def compare_to_oracle(expected: str, answer: str) -> Verdict:
    if answer == expected:
        return CORRECT
    if not answer.isdigit():
        return Verdict(False, "format", f"answer {answer!r} is not a digit string")
    if len(answer) != len(expected):
        return Verdict(False, "length", f"answer has {len(answer)} digits, expected {len(expected)}")
    return Verdict(False, "value", f"expected {expected}, got {answer}")


def same_answer(original: str, twin: str) -> bool:
    return original.strip() == twin.strip()


def resplit(a: int, b: int, rng: random.Random) -> int | None:
    """A random ``d != 0`` with ``a + d`` and ``b - d`` keeping the digit counts of ``a``, ``b``.

    Keeping both digit counts keeps the difficulty and the answer's padding, so the answer text
    is unchanged. None when only ``d = 0`` fits (e.g. 9 + 9).
    """
    la, lb = len(str(a)), len(str(b))
    lo = max(10 ** (la - 1) - a, b - (10**lb - 1))
    hi = min(10**la - 1 - a, b - 10 ** (lb - 1))  # lo <= 0 <= hi, since d = 0 always fits
    if lo == hi:
        return None
    d = rng.randint(lo, hi - 1)  # uniform over [lo, hi] without 0
    return d + 1 if d >= 0 else d


class Addition:
    """Reverse or forward addition; ``reverse`` fixes the digit order of prompt and answer."""

    axes = ("digits",)
    example = 3  # `selfimprove tasks` shows a 3-digit sum

    def __init__(self, reverse: bool, independent_lengths: bool = True, nines: float = 0.0) -> None:
        self.reverse = reverse
        self.name = "reverse_addition" if reverse else "forward_addition"
        self.independent_lengths = independent_lengths
        if not (isinstance(nines, (int, float)) and not isinstance(nines, bool) and 0 <= nines <= 1):
            raise TaskError(f"nines must be a share between 0 and 1, got {nines!r}")
        self.nines = float(nines)

    def vocabulary(self) -> list[str]:
        return DIGITS + ["+", "="]

    def split(self, text: str) -> list[str]:
        return list(text)

    def check_difficulty(self, difficulty: Difficulty) -> Difficulty:
        return check_digits(difficulty)

    def sample(self, difficulty: Difficulty, rng: random.Random) -> Operands:
        digits = check_digits(difficulty)
        return Operands(random_number(digits, rng), random_number(digits, rng))

    def sample_initial(self, low: Difficulty, high: Difficulty, rng: random.Random) -> Operands:
        lo, hi = check_digits(low), check_digits(high)
        # Only when asked, so that D0 without `nines` draws the same problems as before.
        if self.nines and rng.random() < self.nines:
            from selfimprove.carries import nines_problem  # carries imports this module

            digits = rng.randint(lo, hi)
            other = rng.randint(lo, hi) if self.independent_lengths else digits
            return nines_problem(digits, rng.randint(1, min(digits, other)), rng, other)
        if self.independent_lengths:
            return Operands(random_number(rng.randint(lo, hi), rng), random_number(rng.randint(lo, hi), rng))
        return self.sample(rng.randint(lo, hi), rng)

    def difficulty(self, problem: Operands) -> int:
        return max(len(str(problem.a)), len(str(problem.b)))

    def _write(self, n: int) -> str:
        return str(n)[::-1] if self.reverse else str(n)

    def prompt(self, problem: Operands) -> str:
        return f"{self._write(problem.a)}+{self._write(problem.b)}="

    def parse(self, prompt: str) -> Operands:
        return parse_binary(prompt, "+", self.reverse)

    def solve(self, problem: Operands) -> str:
        return self.write_total(problem, problem.a + problem.b)

    def write_total(self, problem: Operands, total: int) -> str:
        """``total`` written as the answer to ``problem`` is written (reverse: padded to len + 1)."""
        if not self.reverse:
            return str(total)
        return str(total)[::-1].ljust(self.difficulty(problem) + 1, "0")

    def read_total(self, answer: str) -> int | None:
        """An answer's value, or None when it is not a digit string."""
        text = answer.strip()
        if not text.isdigit() or not text.isascii():
            return None
        return int(text[::-1] if self.reverse else text)

    def verify(self, problem: Operands, answer: str) -> Verdict:
        return compare_to_oracle(self.solve(problem), answer)

    def max_answer_len(self, difficulty: Difficulty) -> int:
        return check_digits(difficulty) + 1

    def twins(self, p: Operands, rng: random.Random) -> list[Twin]:
        """b + a, and (a + d) + (b - d); none for a + a swapped or a sum that cannot re-split."""
        out = []
        if p.a != p.b:  # a + a swapped is the same prompt: no information
            out.append(Twin(self.prompt(replace(p, a=p.b, b=p.a)), same_answer))
        d = resplit(p.a, p.b, rng)
        if d is not None:
            out.append(Twin(self.prompt(replace(p, a=p.a + d, b=p.b - d)), same_answer))
        return out

    def shifted_twins(self, p: Operands, rng: random.Random) -> list[Twin]:
        """a + (b + e) for a random e != 0 that keeps b's digit count (so the difficulty is kept).

        b + a and a re-split keep every column's digit sum, so a carry the model misjudges for a
        given column sum is misjudged alike on them; a shift changes the column sums.
        """
        digits = len(str(p.b))
        lo, hi = 10 ** (digits - 1) - p.b, 10**digits - 1 - p.b  # lo <= 0 <= hi and lo < hi
        e = rng.randint(lo, hi - 1)
        e = e + 1 if e >= 0 else e  # uniform over [lo, hi] without 0

        def agrees(original: str, twin: str) -> bool:
            value = self.read_total(twin)
            return value is not None and value - e >= 0 and self.write_total(p, value - e) == original.strip()

        return [Twin(self.prompt(replace(p, b=p.b + e)), agrees)]

    def cut_twins(self, p: Operands, rng: random.Random) -> list[Twin]:
        """Each operand without its ``k`` lowest digits, ``a // 10^k + b // 10^k``, with ``k`` drawn so
        that the shorter operand keeps 1 .. half of its digits. The label's value ``// 10^k`` must be
        that twin's answer plus 0 or 1 (the carry out of the cut-off digits, which the twin cannot know).

        Every other twin has the problem's own length, so a mistake the model makes at a new
        length, whatever the digits (a carry out of the top column where there is none), passes
        them all; this twin is a short problem, where the model is sure (docs/EXPERIMENTS.md U1).
        None when the shorter operand has one digit.
        """
        shorter = min(len(str(p.a)), len(str(p.b)))
        if shorter < 2:
            return []
        k = shorter - rng.randint(1, shorter // 2)  # 1 <= k < shorter: both top parts keep a digit
        scale = 10**k

        def agrees(original: str, twin: str) -> bool:
            label, top = self.read_total(original), self.read_total(twin)
            return (label is not None and top is not None and self.write_total(p, label) == original.strip()
                    and label // scale - top in (0, 1))

        return [Twin(self.prompt(Operands(p.a // scale, p.b // scale)), agrees)]

    def split_twins(self, p: Operands, rng: random.Random, n: int = 1) -> list[Twin]:
        """``n`` twins at distinct split points ``k``, each asking two shorter sums whose answers
        fix the whole label: the top parts ``a // 10^k + b // 10^k`` and the low parts, each with a
        1 put in front, ``(10^k + a % 10^k) + (10^k + b % 10^k)`` (so both keep k + 1 digits and
        none starts with 0). The label's value must be ``top * 10^k + low - 2 * 10^k`` exactly.

        The cut twin can only bound the top digits (the carry from below is unknown to it), so a
        label whose only mistake is that carry passes it (docs/EXPERIMENTS.md U6); here the low
        sum carries it. The first ``k`` is drawn near the middle (the longer question at most one
        digit longer than the shortest split allows), since the shorter a question the surer the
        model; the others from the remaining points, all of them when there are fewer than ``n``
        (forward addition: a miss through a run of nines below one split point is made again in
        its low sum, but not where a point cuts the run, EXPERIMENTS FS1). None when no split
        makes both questions shorter than the problem (an operand under 2 digits, or 2 + 2 digits).
        """
        shorter, longer = sorted((len(str(p.a)), len(str(p.b))))
        # top keeps >= 1 digit of each operand; both questions shorter than the problem
        ks = [k for k in range(1, shorter) if max(longer - k, k + 1) < longer]
        if not ks or n < 1:
            return []
        best = min(max(longer - k, k + 1) for k in ks)
        first = rng.choice([k for k in ks if max(longer - k, k + 1) <= best + 1])
        others = [k for k in ks if k != first]
        points = [first] + (rng.sample(others, min(n - 1, len(others))) if n > 1 else [])
        return [self.split_at(p, k) for k in points]

    def split_at(self, p: Operands, k: int) -> Twin:
        """The split twin of ``p`` at point ``k`` (``split_twins``)."""
        scale = 10**k
        top = Operands(p.a // scale, p.b // scale)
        low = Operands(scale + p.a % scale, scale + p.b % scale)

        def agrees(original: str, top_answer: str, low_answer: str) -> bool:
            label, high, rest = self.read_total(original), self.read_total(top_answer), self.read_total(low_answer)
            return (label is not None and high is not None and rest is not None
                    and self.write_total(p, label) == original.strip()
                    and 0 <= rest - 2 * scale < 2 * scale and label == high * scale + rest - 2 * scale)

        return Twin(self.prompt(top), agrees, (self.prompt(low),))

    def addends(self, problem: Operands) -> tuple[int, int]:
        """The two numbers summed (``selfimprove analyze carries`` reads their carry chains)."""
        return problem.a, problem.b

    def from_addends(self, a: int, b: int) -> Operands:
        return Operands(a, b)


register("reverse_addition", lambda **options: Addition(reverse=True, **options))
register("forward_addition", lambda **options: Addition(reverse=False, **options))
