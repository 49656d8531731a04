"""Carry chains: the length of an addition's longest cascade, and problems built to have one."""

import random

import pytest

from selfimprove.carries import (
    carry_chain,
    carry_flags,
    carry_pattern,
    carry_problem,
    carry_problems,
    fed,
    histogram,
    longest_run,
    nines,
    nines_problem,
    nines_problems,
)
from selfimprove.tasks.addition import Operands


@pytest.mark.parametrize("a, b, chain", [(11, 22, 0), (15, 17, 1), (95, 15, 2), (999, 1, 3), (5050, 5050, 1),
                                         (9999, 9999, 4), (1919, 1181, 3)])
def test_carry_chain_of_hand_checked_additions(a, b, chain):
    assert carry_chain(a, b) == chain


def test_carry_chain_matches_a_column_by_column_reference():
    rng = random.Random(1)
    for _ in range(500):
        a, b = rng.randrange(1, 10**8), rng.randrange(1, 10**8)
        da, db = str(a)[::-1], str(b)[::-1]
        carry, run, best = 0, 0, 0
        for i in range(max(len(da), len(db))):
            total = int(da[i] if i < len(da) else 0) + int(db[i] if i < len(db) else 0) + carry
            carry = total // 10
            run = run + 1 if carry else 0
            best = max(best, run)
        assert carry_chain(a, b) == best


@pytest.mark.parametrize("build, measure", [(carry_problem, carry_chain), (nines_problem, nines)])
@pytest.mark.parametrize("digits", [1, 2, 7, 8, 15, 20])
def test_constructed_problems_have_the_chain_or_run_of_nines_asked_for(build, measure, digits):
    rng = random.Random(digits)
    for length in range(digits + 1):
        for _ in range(30):
            p = build(digits, length, rng)
            assert len(str(p.a)) == len(str(p.b)) == digits
            assert measure(p.a, p.b) == length


def test_patterns_are_random_and_out_of_range_chains_are_refused():
    rng = random.Random(0)
    assert len({tuple(carry_pattern(12, 3, rng)) for _ in range(50)}) > 20
    assert all(longest_run(carry_pattern(12, 3, rng)) == 3 for _ in range(50))
    with pytest.raises(ValueError, match="does not fit"):
        carry_pattern(3, 4, rng)


def test_test_sets_are_per_length_and_reproducible():
    sets = carry_problems(6, range(7), 500, seed=0)
    assert sorted(sets) == list(range(7)) and all(len(v) == 500 for v in sets.values())
    assert sets == carry_problems(6, range(7), 500, seed=0)
    assert histogram(sets[4]) == {4: 500}
    assert histogram([Operands(11, 22), Operands(15, 17), Operands(95, 15), Operands(12, 13)]) == {0: 2, 1: 1, 2: 1}


@pytest.mark.parametrize("a, b, run", [(45, 54, 2), (19, 70, 1), (15, 17, 0), (999, 0, 3), (9, 1000, 1),
                                      (1234, 8765, 4), (1801, 8098, 2)])
def test_nines_of_hand_checked_additions(a, b, run):
    assert nines(a, b) == run


@pytest.mark.parametrize("digits", [1, 2, 8, 15])
def test_a_nines_problem_has_no_column_summing_to_9_outside_its_run(digits):
    rng = random.Random(digits)
    for run in range(digits + 1):
        for _ in range(30):
            p = nines_problem(digits, run, rng)
            sums = [int(x) + int(y) for x, y in zip(str(p.a), str(p.b))]
            assert sums.count(9) == run
    with pytest.raises(ValueError, match="does not fit"):
        nines_problem(3, 4, rng)
    with pytest.raises(ValueError, match="does not fit"):
        nines_problem(6, 3, rng, other_digits=2)


def test_nines_problems_of_two_lengths_keep_the_run_where_both_have_digits():
    rng = random.Random(5)
    for _ in range(200):
        digits, other = rng.randint(1, 9), rng.randint(1, 9)
        run = rng.randint(0, min(digits, other))
        p = nines_problem(digits, run, rng, other)
        assert (len(str(p.a)), len(str(p.b))) == (digits, other) and nines(p.a, p.b) == run


def test_nines_sets_are_reproducible_and_the_column_under_a_run_carries_about_half_the_time():
    sets = nines_problems(8, [2], 400, seed=0)
    assert sets == nines_problems(8, [2], 400, seed=0) and sets != nines_problems(8, [2], 400, seed=1)
    under = []  # does the column under the run carry into it?
    for p in sets[2]:
        flags = carry_flags(p.a, p.b)
        sums = [int(x) + int(y) for x, y in zip(str(p.a)[::-1], str(p.b)[::-1])]
        start = sums.index(9)
        if start:
            under.append(flags[start - 1])
    assert 0.35 < sum(under) / len(under) < 0.65


@pytest.mark.parametrize("a, b, entered", [(145, 856, True), (45, 54, False), (15, 17, None), (19, 70, False),
                                           (1945, 8055, True), (1945, 8051, False), (909, 191, True)])
def test_fed_says_whether_a_carry_enters_the_longest_run_of_nines(a, b, entered):
    assert fed(a, b) is entered


def test_about_half_of_a_nines_set_is_fed_and_fed_agrees_with_the_carry_under_the_run():
    problems = nines_problems(8, [3], 400, seed=0)[3]
    entered = [fed(p.a, p.b) for p in problems]
    assert None not in entered and 0.3 < sum(entered) / len(entered) < 0.6  # a run at the bottom is never fed
    for p, was in zip(problems, entered):
        start = [int(x) + int(y) for x, y in zip(str(p.a)[::-1], str(p.b)[::-1])].index(9)
        assert was == (start > 0 and carry_flags(p.a, p.b)[start - 1])
