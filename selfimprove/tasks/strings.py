"""Copy and reverse a digit string.

The prompt is the string followed by ``=``; the answer is the string itself (``copy``) or the
string backwards (``reverse``). Strings use the digits 0-9 and never start with ``0``, so a
prompt is never ambiguous with a shorter one padded::

    copy      prompt "12345="   answer "12345"
    reverse   prompt "12345="   answer "54321"
    reverse   prompt "10="      answer "01"

Difficulty is the string length; the answer is exactly as long as the string.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from selfimprove.tasks.addition import DIGITS, check_digits, compare_to_oracle
from selfimprove.tasks.base import Difficulty, TaskError, Verdict, register


@dataclass(frozen=True)
class Text:
    """A digit string whose first digit is not ``0``."""

    digits: str


def random_text(length: int, rng: random.Random) -> Text:
    """Uniform over the digit strings of this length that do not start with ``0``."""
    first = rng.choice(DIGITS[1:])
    return Text(first + "".join(rng.choice(DIGITS) for _ in range(length - 1)))


class StringTask:
    """Copy (``reverse=False``) or reverse (``reverse=True``) the prompt's digit string."""

    axes = ("length",)

    def __init__(self, reverse: bool) -> None:
        self.reverse = reverse
        self.name = "reverse" if reverse else "copy"

    def vocabulary(self) -> list[str]:
        return DIGITS + ["="]

    def split(self, text: str) -> list[str]:
        return list(text)

    def check_difficulty(self, difficulty: Difficulty) -> int:
        return check_digits(difficulty, what="length")

    def sample(self, difficulty: Difficulty, rng: random.Random) -> Text:
        return random_text(check_digits(difficulty, what="length"), rng)

    def sample_initial(self, low: Difficulty, high: Difficulty, rng: random.Random) -> Text:
        """Length uniform in ``[low, high]``, then the digits."""
        lo, hi = check_digits(low, what="length"), check_digits(high, what="length")
        if lo > hi:
            raise TaskError(f"empty length range {lo}..{hi}")
        return self.sample(rng.randint(lo, hi), rng)

    def difficulty(self, problem: Text) -> int:
        return len(problem.digits)

    def prompt(self, problem: Text) -> str:
        return f"{problem.digits}="

    def parse(self, prompt: str) -> Text:
        digits = prompt[:-1]
        if not prompt.endswith("=") or not digits.isdigit() or not digits.isascii():
            raise TaskError(f"malformed prompt {prompt!r}: expected digits followed by '='")
        if digits[0] == "0":
            raise TaskError(f"malformed prompt {prompt!r}: the string starts with 0")
        return Text(digits)

    def solve(self, problem: Text) -> str:
        return problem.digits[::-1] if self.reverse else problem.digits

    def verify(self, problem: Text, answer: str) -> Verdict:
        return compare_to_oracle(self.solve(problem), answer)

    def max_answer_len(self, difficulty: Difficulty) -> int:
        return check_digits(difficulty, what="length")


register("copy", lambda **options: StringTask(reverse=False, **options))
register("reverse", lambda **options: StringTask(reverse=True, **options))
