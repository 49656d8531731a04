"""Carry chains: the length of an addition's longest cascade, and problems built to have one."""

import random

import pytest

from selfimprove.carries import (
    carry_chain,
    carry_pattern,
    carry_problem,
    carry_problems,
    histogram,
    longest_run,
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


@pytest.mark.parametrize("digits", [1, 2, 7, 20])
def test_constructed_problems_have_the_chain_asked_for(digits):
    rng = random.Random(digits)
    for length in range(digits + 1):
        for _ in range(30):
            p = carry_problem(digits, length, rng)
            assert len(str(p.a)) == len(str(p.b)) == digits
            assert carry_chain(p.a, p.b) == length


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
