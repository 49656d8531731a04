"""Copy and reverse a digit string.

The prompt is the string followed by ``=``; the answer is the string itself (``copy``) or the
string backwards (``reverse``). Strings use the digits 0-9 and never start with ``0``, so a
prompt is never ambiguous with a shorter one padded::

    copy      prompt "12345="   answer "12345"
    reverse   prompt "12345="   answer "54321"
    reverse   prompt "10="      answer "01"

Difficulty is the string length; the answer is exactly as long as the string.

Consistency twins (``selfimprove.consistency``): the string under a digit permutation sigma,
whose answer is sigma applied to the label; shifted twins: the string cut in two, whose answers
compose to the label (``copy(u + v) = copy(u) + copy(v)``, ``reverse(u + v) = reverse(v) + reverse(u)``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from selfimprove.tasks.addition import DIGITS, check_digits, compare_to_oracle
from selfimprove.tasks.base import Difficulty, TaskError, Twin, Verdict
from selfimprove.tasks.registry import register


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
    example = 5

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

    def twins(self, p: Text, rng: random.Random) -> list[Twin]:
        """sigma permutes the digits; copy and reverse both commute with it, digit by digit."""
        text, used = p.digits, set(p.digits)
        while True:  # sigma must keep a non-zero first digit and change the string
            sigma = dict(zip(DIGITS, rng.sample(DIGITS, len(DIGITS))))
            if sigma[text[0]] != "0" and any(sigma[c] != c for c in used):
                break
        table = str.maketrans(sigma)

        def agrees(original: str, twin: str) -> bool:
            return twin.strip() == original.strip().translate(table)

        return [Twin(self.prompt(replace(p, digits=text.translate(table))), agrees)]

    def shifted_twins(self, p: Text, rng: random.Random) -> list[Twin]:
        """s = u + v cut at a random point: the answers to u and to v must compose to the label.

        Unlike the digit permutation, the twins are *shorter* than s, where the model is reliable,
        so an answer of the wrong length or with a dropped or repeated character at the new length
        cannot pass. No twin when s cannot be cut (one character, or every later character is 0:
        v may not start with 0).
        """
        text = p.digits
        cuts = [i for i in range(1, len(text)) if text[i] != "0"]
        if not cuts:
            return []
        cut = rng.choice(cuts)
        u, v = text[:cut], text[cut:]

        def part(start: int, length: int) -> Callable[[str, str], bool]:
            def agrees(original: str, twin: str) -> bool:
                original = original.strip()
                return len(original) == len(text) and original[start : start + length] == twin.strip()

            return agrees

        first, second = ((part(len(v), len(u)), part(0, len(v))) if self.reverse
                         else (part(0, len(u)), part(len(u), len(v))))
        return [Twin(self.prompt(replace(p, digits=u)), first), Twin(self.prompt(replace(p, digits=v)), second)]


register("copy", lambda **options: StringTask(reverse=False, **options))
register("reverse", lambda **options: StringTask(reverse=True, **options))
