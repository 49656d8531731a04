"""Carry chains of additions: does the model really learn to carry (paper B.8, Figs 29-30)?

The *maximum cascading-carry length* of ``a + b`` is the longest run of consecutive digit
positions that each produce a carry: ``15 + 17`` has 1 (5+7), ``95 + 15`` has 2 (5+5, then
9+1+1), ``11 + 22`` has 0. Uniformly random problems almost never have long chains (a chain of
length L has probability about 2^-L), so a model can score 99% on them and still fail every long
chain; ``carry_problems`` builds test sets with a chosen chain length instead.

Carries are a property of the numbers, not of how the task writes them, so this works for
reverse and forward addition alike. ``nines`` measures what forward addition finds hard instead: a
run of columns summing to 9, through which a most-significant-first writer must look for the
carry (docs/EXPERIMENTS.md FL0); ``fed`` says whether a carry enters such a run, which is what
the writer has to find out.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from selfimprove.tasks.addition import Operands


def carry_flags(a: int, b: int) -> list[bool]:
    """Per digit position (least significant first): does it produce a carry?"""
    flags, carry = [], 0
    while a or b:
        carry = int(a % 10 + b % 10 + carry >= 10)
        flags.append(bool(carry))
        a, b = a // 10, b // 10
    return flags


def longest_run(flags: Iterable[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def carry_chain(a: int, b: int) -> int:
    """The maximum cascading-carry length of ``a + b``."""
    return longest_run(carry_flags(a, b))


def carry_pattern(digits: int, length: int, rng: random.Random) -> list[bool]:
    """A random carry pattern over ``digits`` positions whose longest run is exactly ``length``:
    one run of ``length`` placed at random, fenced by non-carries, the rest random with every run
    capped at ``length``."""
    if not 0 <= length <= digits:
        raise ValueError(f"a carry chain of {length} does not fit in {digits} digits")
    start = rng.randint(0, digits - length)
    fixed = {i: True for i in range(start, start + length)}
    if length:  # fences, so the placed run does not merge with a neighbouring one
        fixed.update({i: False for i in (start - 1, start + length) if 0 <= i < digits})
    flags, run = [], 0
    for i in range(digits):
        flag = fixed[i] if i in fixed else run < length and rng.random() < 0.5
        run = run + 1 if flag else 0
        flags.append(flag)
    return flags


def digits_for(carry_in: bool, carry_out: bool, leading: bool, rng: random.Random) -> tuple[int, int]:
    """A uniformly random digit pair whose column turns ``carry_in`` into ``carry_out``."""
    low = 1 if leading else 0
    pairs = [(x, y) for x in range(low, 10) for y in range(low, 10) if (x + y + carry_in >= 10) == carry_out]
    return rng.choice(pairs)


def carry_problem(digits: int, length: int, rng: random.Random) -> Operands:
    """Two ``digits``-digit operands whose maximum cascading-carry length is exactly ``length``."""
    a = b = 0
    carry = False
    for i, out in enumerate(carry_pattern(digits, length, rng)):
        x, y = digits_for(carry, out, i == digits - 1, rng)
        a, b, carry = a + x * 10**i, b + y * 10**i, out
    return Operands(a, b)


def carry_problems(digits: int, lengths: Iterable[int], n: int, seed: int) -> dict[int, list[Operands]]:
    """``n`` problems per chain length, from their own seed stream (``carries/<seed>/<digits>/<L>``)."""
    out = {}
    for length in lengths:
        rng = random.Random(f"carries/{seed}/{digits}/{length}")
        out[length] = [carry_problem(digits, length, rng) for _ in range(n)]
    return out


def histogram(problems: Iterable[Operands]) -> dict[int, int]:
    """Chain length -> count, e.g. of a round's training data."""
    counts = Counter(carry_chain(p.a, p.b) for p in problems)
    return dict(sorted(counts.items()))


def nine_flags(a: int, b: int) -> list[bool]:
    """Per digit position (least significant first): do its digits sum to exactly 9 (a missing digit counts 0)?"""
    flags = []
    while a or b:
        flags.append(a % 10 + b % 10 == 9)
        a, b = a // 10, b // 10
    return flags


def nines(a: int, b: int) -> int:
    """The longest run of consecutive columns whose digit sum is exactly 9 (a missing digit counts 0).

    Such a column passes on whatever carry comes from below, so a writer that starts at the most
    significant digit (forward addition) must look through the whole run to know the digit above
    it: ``45 + 54`` has 2, ``19 + 70`` 1 (9 + 0), ``15 + 17`` 0. Random digits rarely make long runs
    (a column sums to 9 one time in ten).
    """
    return longest_run(nine_flags(a, b))


def fed(a: int, b: int) -> bool | None:
    """Does a carry enter the longest run of columns summing to 9 (the lowest such run on a tie)?
    None when no column sums to 9. A writer that starts at the top must tell the two apart, and
    a miss either way is one wrong digit above the run: ``145 + 856`` True (5 + 6 carries into
    4 + 5, 1 + 8), ``45 + 54`` False (nothing below), ``15 + 17`` None.
    """
    flags = nine_flags(a, b)
    run = longest_run(flags)
    if not run:
        return None
    start = next(i for i in range(len(flags)) if all(flags[i:i + run]))
    return start > 0 and carry_flags(a, b)[start - 1]


def nines_problem(digits: int, run: int, rng: random.Random, other_digits: int | None = None) -> Operands:
    """Operands of ``digits`` and ``other_digits`` (default the same) digits with exactly one run of
    ``run`` columns summing to 9, placed at random where both have digits; every other column is
    uniform over what does not sum to 9 (so the column under the run carries into it about half the
    time; where only one operand has a digit, that digit is not 9)."""
    other = digits if other_digits is None else other_digits
    if not 0 <= run <= min(digits, other):
        raise ValueError(f"a run of {run} nines does not fit in {min(digits, other)} shared digits")
    start = rng.randint(0, min(digits, other) - run)
    a = b = 0
    for i in range(max(digits, other)):
        xs = range(1 if i == digits - 1 else 0, 10) if i < digits else [0]  # no leading zero
        ys = range(1 if i == other - 1 else 0, 10) if i < other else [0]
        nine = start <= i < start + run
        x, y = rng.choice([(x, y) for x in xs for y in ys if (x + y == 9) == nine])
        a, b = a + x * 10**i, b + y * 10**i
    return Operands(a, b)


def nines_problems(digits: int, runs: Iterable[int], n: int, seed: int) -> dict[int, list[Operands]]:
    """``n`` problems per run length of nines, from their own seed stream (``nines/<seed>/<digits>/<run>``)."""
    return {run: [nines_problem(digits, run, rng) for _ in range(n)]
            for run in runs for rng in [random.Random(f"nines/{seed}/{digits}/{run}")]}
