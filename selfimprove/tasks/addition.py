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
operand's length.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from selfimprove.tasks.base import CORRECT, Difficulty, TaskError, Verdict, register

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


class Addition:
    """Reverse or forward addition; ``reverse`` fixes the digit order of prompt and answer."""

    axes = ("digits",)

    def __init__(self, reverse: bool, independent_lengths: bool = True) -> None:
        self.reverse = reverse
        self.name = "reverse_addition" if reverse else "forward_addition"
        self.independent_lengths = independent_lengths

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


register("reverse_addition", lambda **options: Addition(reverse=True, **options))
register("forward_addition", lambda **options: Addition(reverse=False, **options))
