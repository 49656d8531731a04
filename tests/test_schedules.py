"""Schedules: the paper's sequences, accelerated probing with fake probes, config parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfimprove.schedules import (
    PROBE_GUARD,
    Accelerated,
    AcceleratedGrid,
    Increment,
    LabelFreeAccelerated,
    Listed,
    MultiplicationGrid,
    schedule_from_config,
)


def run(schedule, trained, rounds, probe=None):
    """Plans ``rounds`` rounds, training on each plan; returns the plans."""
    trained, plans = list(trained), []
    for r in range(1, rounds + 1):
        plan = schedule.plan(r, trained, probe)
        plans.append(plan)
        trained += plan
    return plans


def square(n):
    return [(a, b) for a in range(1, n + 1) for b in range(1, n + 1)]


def test_reverse_addition_increments_one_digit_per_round():
    assert run(Increment(), range(1, 17), 4) == [[17], [18], [19], [20]]


def test_increment_step_samples_every_new_difficulty_unless_only_last():
    assert Increment(step=3).plan(1, [1, 2, 3]) == [4, 5, 6]
    assert Increment(step=3, only_last=True).plan(1, [1, 2, 3]) == [6]


def test_maze_hops_grow_at_fixed_nodes():
    trained = [(h, 30) for h in range(1, 10)]
    assert run(Increment(step=1, axis=0), trained, 3) == [[(10, 30)], [(11, 30)], [(12, 30)]]


def test_maze_nodes_grow_by_three_at_fixed_hops():
    trained = [(9, n) for n in range(10, 31)]
    plans = run(Increment(step=3, axis=1, only_last=True), trained, 3)
    assert plans == [[(9, 33)], [(9, 36)], [(9, 39)]]
    # the paper's +3 a round as the authors' code samples it: every count in between
    plans = run(Increment(step=3, axis=1), trained, 2)
    assert plans == [[(9, 31), (9, 32), (9, 33)], [(9, 34), (9, 35), (9, 36)]]


def test_a_listed_schedule_replays_its_table_round_by_round():
    table = Listed(rounds=[[[1, 6], [6, 1]], [[2, 6], [6, 2], [1, 7]]])  # YAML lists
    trained = [(a, b) for a in range(1, 6) for b in range(1, 6)]
    assert table.plan(1, trained, None) == [(1, 6), (6, 1)]
    assert table.plan(2, trained, None) == [(2, 6), (6, 2), (1, 7)]  # no probe, no grid rule
    with pytest.raises(ValueError, match="2 rounds"):
        table.plan(3, trained, None)
    assert schedule_from_config({"kind": "listed", "rounds": [[3], [4, 5]]}).plan(2, [1, 2]) == [4, 5]


def test_plan_depends_on_trained_not_on_round_number():
    assert Increment().plan(1, [1, 2, 5]) == Increment().plan(7, [5, 2, 1]) == [6]


def test_bad_rounds_and_empty_trained_are_errors():
    with pytest.raises(ValueError, match="round"):
        Increment().plan(0, [1])
    with pytest.raises(ValueError, match="empty"):
        Increment().plan(1, [])
    with pytest.raises(ValueError, match="axis"):
        Increment(axis=1).plan(1, [1, 2])


def test_accelerated_takes_exactly_the_passing_range():
    probed = []

    def probe(d):
        probed.append(d)
        return 1.0 if d <= 23 else 0.5

    assert Accelerated().plan(1, list(range(1, 17)), probe) == list(range(17, 24))
    assert probed == list(range(17, 25))  # stops at the first failure


def test_accelerated_never_stalls():
    assert Accelerated().plan(1, list(range(1, 17)), lambda d: 0.0) == [17]
    assert run(Accelerated(), [1, 2], 3, lambda d: 0.98) == [[3], [4], [5]]


def test_accelerated_threshold_is_inclusive_and_max_new_caps():
    assert Accelerated(threshold=0.99).plan(1, [1], lambda d: 0.99 if d < 5 else 0.0) == [2, 3, 4]
    assert Accelerated(max_new=2).plan(1, [1], lambda d: 1.0) == [2, 3]


def test_accelerated_guard_stops_a_probe_that_never_fails():
    assert len(Accelerated().plan(1, [1], lambda d: 1.0)) == PROBE_GUARD == 64


def test_accelerated_grows_faster_when_generalisation_grows():
    # Fake model: solves 2 extra lengths beyond its training maximum for every round trained.
    trained = list(range(1, 17))
    for r in range(1, 6):
        top = max(trained)
        plan = Accelerated().plan(r, trained, lambda d, top=top, r=r: 1.0 if d <= top + r else 0.0)
        assert plan == list(range(top + 1, top + r + 1))
        trained += plan


def test_accelerated_needs_a_probe():
    with pytest.raises(ValueError, match="probe"):
        Accelerated().plan(1, [1])


def test_accelerated_along_a_maze_axis():
    trained = [(h, 30) for h in range(1, 10)]
    plan = Accelerated(axis=0).plan(1, trained, lambda d: 1.0 if d[0] <= 12 else 0.0)
    assert plan == [(10, 30), (11, 30), (12, 30)]


def test_label_free_accelerated_is_the_same_mechanics_with_its_own_name():
    probe = lambda d: 0.985 if d <= 20 else 0.5
    assert LabelFreeAccelerated().plan(1, list(range(1, 17)), probe) == [17, 18, 19, 20]
    assert Accelerated().plan(1, list(range(1, 17)), probe) == [17]  # 0.985 < 0.99
    assert LabelFreeAccelerated() != Accelerated(threshold=0.98)


def test_a_refreshing_wait_relabels_the_frontier_and_otherwise_changes_nothing():
    schedule = LabelFreeAccelerated(threshold=0.9, wait=True, refresh=True)
    assert schedule.plan(1, [1, 2, 3], lambda d: 0.5) == [3]  # waiting: fresh problems at 3
    assert schedule.plan(1, [1, 2, 3], lambda d: 0.95 if d <= 5 else 0.5) == [4, 5]
    maze = LabelFreeAccelerated(threshold=0.9, wait=True, refresh=True, axis=0)
    assert maze.plan(1, [(1, 12), (2, 12)], lambda d: 0.0) == [(2, 12)]


def test_multiplication_grid_order():
    plans = run(MultiplicationGrid(), square(5), 8)
    assert plans == [
        [(1, 6), (6, 1)],
        [(2, 6), (6, 2)],
        [(3, 6), (6, 3)],
        [(4, 6), (6, 4)],
        [(5, 6), (6, 5)],
        [(6, 6)],
        [(1, 7), (7, 1)],
        [(2, 7), (7, 2)],
    ]


def test_multiplication_grid_reaches_10x10_in_the_papers_41_rounds():
    # Paper B.4: "reaching 10-by-10 multiplication from 5-by-5 requires 41 rounds". The paper
    # numbers the base model round 1, so its 41 rounds are our rounds 0..40 inclusive.
    plans = run(MultiplicationGrid(), square(5), 40)
    assert plans[-1] == [(10, 10)]
    assert (10, 10) not in {c for plan in plans[:-1] for c in plan}
    assert 1 + len(plans) == 41  # round 0 (the 5x5 base) plus rounds 1..40
    trained = square(5) + [c for plan in plans for c in plan]
    assert sorted(trained) == square(10)  # every cell once, nothing beyond 10x10


def test_multiplication_grid_fills_a_half_trained_pair_first():
    trained = square(5) + [(6, 1)]
    assert MultiplicationGrid().plan(1, trained) == [(1, 6)]


def test_multiplication_grid_rejects_integer_difficulties():
    with pytest.raises(ValueError, match="digits_a"):
        MultiplicationGrid().plan(1, [1, 2])


def test_accelerated_grid_with_nothing_passing_is_the_standard_grid():
    plans = run(AcceleratedGrid(), square(5), 40, lambda c: 0.0)
    assert plans == run(MultiplicationGrid(), square(5), 40)


def test_accelerated_grid_takes_every_passing_cell_of_the_staircase():
    # Passing: every cell with a + b <= 12. Frontier cells fill the staircase region.
    plan = AcceleratedGrid().plan(1, square(5), lambda c: 1.0 if sum(c) <= 12 else 0.0)
    expected = {(a, b) for a in range(1, 12) for b in range(1, 12) if a + b <= 12} - set(square(5))
    assert set(plan) == expected
    assert plan == sorted(plan)


def test_accelerated_grid_only_adds_cells_adjacent_to_the_region():
    # (7, 1) passes but (6, 1) does not: (7, 1) is not reachable this round.
    probe = lambda c: 1.0 if c == (7, 1) or c == (1, 6) else 0.0
    assert AcceleratedGrid().plan(1, square(5), probe) == [(1, 6), (6, 1)]


def test_accelerated_grid_is_never_slower_than_the_grid():
    probe = lambda c: 1.0 if c[0] <= 7 and c[1] <= 5 else 0.0
    plan = AcceleratedGrid().plan(1, square(5), probe)
    assert set(plan) == {(6, b) for b in range(1, 6)} | {(7, b) for b in range(1, 6)} | {(1, 6)}


@given(st.integers(1, 8), st.integers(1, 30), st.floats(0.01, 1))
def test_accelerated_grid_plans_are_new_reachable_cells(n, cut, threshold):
    done = set(square(n))
    probe = lambda c: 1.0 if c[0] * c[1] <= cut else 0.0
    plan = AcceleratedGrid(threshold=threshold).plan(1, sorted(done), probe)
    assert plan and not set(plan) & done
    region = done | set(plan)
    for a, b in plan:  # the grown region stays a staircase: every cell's lower neighbours are in
        assert a == 1 or (a - 1, b) in region
        assert b == 1 or (a, b - 1) in region


def test_schedule_from_config_builds_each_kind():
    assert schedule_from_config({"kind": "increment"}) == Increment()
    assert schedule_from_config({"kind": "increment", "step": 3, "axis": 1, "only_last": True}) == (
        Increment(step=3, axis=1, only_last=True)
    )
    assert schedule_from_config({"kind": "accelerated", "threshold": 0.99}) == Accelerated()
    assert schedule_from_config({"kind": "accelerated", "threshold": 1}) == Accelerated(1.0)
    assert schedule_from_config({"kind": "label_free_accelerated"}) == LabelFreeAccelerated()
    assert schedule_from_config({"kind": "multiplication_grid"}) == MultiplicationGrid()
    assert schedule_from_config({"kind": "accelerated_grid", "max_new": 5}) == AcceleratedGrid(
        max_new=5
    )


@pytest.mark.parametrize(
    "config, words",
    [
        ({"kind": "fastest"}, "'fastest'"),
        ({}, "kind None"),
        ({"kind": "increment", "stride": 2}, "'stride'"),
        ({"kind": "multiplication_grid", "threshold": 0.9}, "'threshold'"),
        ({"kind": "increment", "step": "2"}, "step"),
        ({"kind": "increment", "step": True}, "step"),
        ({"kind": "increment", "step": 0}, "step >= 1"),
        ({"kind": "accelerated", "threshold": 99}, "threshold"),
        ({"kind": "accelerated", "max_new": 0}, "max_new"),
        ({"kind": "label_free_accelerated", "refresh": True}, "wait: true"),
        ({"kind": "listed"}, "non-empty"),
        ({"kind": "listed", "rounds": [[3], []]}, "non-empty"),
        ({"kind": "listed", "rounds": [["3"]]}, "not a difficulty"),
    ],
)
def test_schedule_from_config_errors_name_the_problem(config, words):
    with pytest.raises(ValueError, match=words):
        schedule_from_config(config)


def test_first_threshold_lets_the_next_difficulty_in_at_a_lower_agreement_only():
    agreement = {9: 0.4, 10: 0.9, 11: 0.95, 12: 0.3}.get
    gated = LabelFreeAccelerated(threshold=0.85, wait=True, max_new=4)
    assert gated.plan(1, list(range(1, 9)), agreement) == []  # 9 fails 0.85: the round waits
    eased = LabelFreeAccelerated(threshold=0.85, wait=True, max_new=4, first_threshold=0.3)
    assert eased.plan(1, list(range(1, 9)), agreement) == [9, 10, 11]  # 9 at 0.3; 10, 11 at 0.85
    assert eased.plan(1, list(range(1, 9)), {9: 0.2}.get) == []
    with pytest.raises(ValueError, match="first_threshold"):
        schedule_from_config({"kind": "label_free_accelerated", "first_threshold": 1.5})
