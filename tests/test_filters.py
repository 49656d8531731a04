"""Label filters: paper semantics, exact vote thresholds, composition and bookkeeping."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfimprove.filters import (
    FILTERS,
    ConsistencyFilter,
    Labelled,
    LengthFilter,
    MajorityFilter,
    VerifierFilter,
    apply_filters,
    consistency_filter,
    length_filter,
    majority_filter,
    verifier_filter,
    votes_needed,
)
from selfimprove.tasks import get_task


def item(label, difficulty=3, answers=(), twins_agree=None, prompt="p"):
    return Labelled(prompt, difficulty, label, tuple(answers), twins_agree)


def labels(items):
    return [i.label for i in items]


# --- length -------------------------------------------------------------------------------


def test_length_filter_drops_more_than_tau_shorter_than_the_longest():
    items = [item("1234567"), item("123456"), item("12345"), item("1234")]
    assert labels(length_filter(items, tau=2)[0]) == ["1234567", "123456", "12345"]
    assert labels(length_filter(items, tau=0)[0]) == ["1234567"]
    assert len(length_filter(items, tau=3)[0]) == 4


def test_length_filter_authors_t_is_tau_plus_one():
    # The authors drop when a label is >= t shorter; t = 2 (forward addition) is tau = 1.
    items = [item("x" * n) for n in (10, 9, 8, 7)]
    t = 2
    authors = [i for i in items if 10 - len(i.label) < t]
    assert length_filter(items, tau=t - 1)[0] == authors


def test_length_filter_groups_by_difficulty():
    items = [item("12345", 4), item("1234", 4), item("123", 2), item("12", 2), item("1", 2)]
    kept, stats = length_filter(items, tau=0)
    assert labels(kept) == ["12345", "123"]
    assert stats["max_len"] == {"4": 5, "2": 3}
    assert stats["by_difficulty"] == {"4": {"in": 2, "kept": 1}, "2": {"in": 3, "kept": 1}}


def test_length_filter_counts_tokens_with_the_given_length():
    maze = get_task("maze")
    # "12>7>30" is 5 tokens (3 labels, 2 '>'), 7 characters; "12>7" is 3 tokens.
    items = [item("12>7>30", (2, 5)), item("12>7", (2, 5))]
    tokens = lambda s: len(maze.split(s))
    assert len(length_filter(items, tau=2, length=tokens)[0]) == 2
    assert len(length_filter(items, tau=2)[0]) == 1  # characters: 7 - 4 = 3 > 2


def test_length_filter_tuple_difficulties_and_stats_keys():
    items = [item("ab", (5, 6)), item("a", (5, 6))]
    assert length_filter(items, tau=0)[1]["by_difficulty"] == {"5,6": {"in": 2, "kept": 1}}


# --- majority -----------------------------------------------------------------------------


@pytest.mark.parametrize("tau, k, need", [(0.7, 5, 4), (0.8, 5, 4), (1.0, 5, 5), (0.6, 5, 3),
                                          (0.2, 5, 1), (0.5, 4, 2), (0.3, 10, 3), (1, 3, 3)])
def test_votes_needed_is_exact(tau, k, need):
    assert votes_needed(k, tau) == need


@pytest.mark.parametrize("tau", [0, -0.1, 1.01])
def test_votes_needed_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        votes_needed(5, tau)


def test_majority_filter_keeps_labels_with_enough_agreeing_answers():
    four = item("7530", answers=["7530", "7530", "7530", "7530", "7531"])
    three = item("7530", answers=["7530", "7530", "7530", "753", "7531"])
    minority = item("753", answers=["7530", "7530", "7530", "753", "7530"])
    kept, stats = majority_filter([four, three, minority], k=5, tau=0.7)
    assert kept == [four]
    assert (stats["in"], stats["kept"], stats["dropped"], stats["need"]) == (3, 1, 2, 4)
    assert majority_filter([four, three, minority], k=5, tau=1.0)[0] == []


def test_majority_filter_compares_stripped_strings():
    padded = item("7530", answers=["7530 ", " 7530", "7530\n", "7530", "x"])
    assert majority_filter([padded], k=5, tau=0.8)[0] == [padded]


def test_majority_filter_requires_k_answers():
    with pytest.raises(ValueError, match="5 answers, got 4"):
        majority_filter([item("1", answers=["1"] * 4)], k=5, tau=0.7)


NEED_OF_5 = {0.2: 1, 0.4: 2, 0.6: 3, 0.7: 4, 0.8: 4, 1.0: 5}


@given(st.lists(st.sampled_from(["1", "2", "3"]), min_size=5, max_size=5),
       st.sampled_from(sorted(NEED_OF_5)))
def test_majority_filter_matches_counting(answers, tau):
    x = item(answers[0], answers=answers)
    kept = majority_filter([x], k=5, tau=tau)[0]
    assert (kept == [x]) == (answers.count(answers[0]) >= NEED_OF_5[tau])


# --- verifier -----------------------------------------------------------------------------


def maze_items(n=30, difficulty=(4, 12), seed=0):
    maze, rng = get_task("maze"), random.Random(seed)
    problems = [maze.sample(difficulty, rng) for _ in range(n)]
    return maze, problems


def test_verifier_filter_keeps_correct_paths_and_names_failed_checks():
    maze, problems = maze_items()
    good = [item(maze.solve(p), (4, 12), prompt=maze.prompt(p)) for p in problems]
    short = [item(">".join(maze.solve(p).split(">")[:-1]), (4, 12), prompt=maze.prompt(p))
             for p in problems]  # stops one node early: moves are fine, the end is not
    kept, stats = verifier_filter(good + short, maze, checks=("moves", "end"))
    assert kept == good
    assert stats["failed"] == {"moves": 0, "end": len(short)}
    assert verifier_filter(short, maze, checks=("moves",))[0] == short
    assert verifier_filter(short, maze, checks=("end",))[0] == []


def test_verifier_filter_never_calls_the_oracle(monkeypatch):
    maze, problems = maze_items(5)
    items = [item(maze.solve(p), (4, 12), prompt=maze.prompt(p)) for p in problems]
    monkeypatch.setattr(type(maze), "solve", lambda self, p: pytest.fail("oracle called"))
    assert len(verifier_filter(items, maze, ("moves", "end", "repeat", "format"))[0]) == 5


def test_verifier_filter_rejects_unknown_checks_and_tasks_without_checks():
    maze = get_task("maze")
    with pytest.raises(ValueError, match="checks"):
        verifier_filter([], maze, checks=("shortest",))
    with pytest.raises(ValueError, match="checks"):
        verifier_filter([], maze, checks=())
    with pytest.raises(ValueError, match="no verifier"):
        verifier_filter([], get_task("reverse_addition"), checks=("end",))


# --- consistency --------------------------------------------------------------------------


def test_consistency_filter_keeps_agreeing_items_and_refuses_unchecked_ones():
    yes, no = item("1", twins_agree=True), item("2", twins_agree=False)
    kept, stats = consistency_filter([yes, no])
    assert kept == [yes] and stats["dropped"] == 1
    with pytest.raises(ValueError, match="not run"):
        consistency_filter([yes, item("3")])


# --- composition --------------------------------------------------------------------------


def test_apply_filters_composes_in_order_and_records_the_first_rejecting_filter():
    task = get_task("reverse_addition")
    short = item("75", answers=["75"] * 5, twins_agree=True)
    split = item("7530", answers=["7530", "7530", "7530", "1", "2"], twins_agree=True)
    odd = item("7530", answers=["7530"] * 5, twins_agree=False)
    good = item("7531", answers=["7531"] * 5, twins_agree=True)
    items = [short, split, odd, good]
    specs = [LengthFilter(1), MajorityFilter(0.7), ConsistencyFilter()]
    kept, stats = apply_filters(items, specs, task)
    assert kept == [good]
    assert [i.dropped_by for i in items] == ["length", "majority", "consistency", None]
    assert [(s["name"], s["in"], s["kept"], s["dropped"]) for s in stats] == [
        ("length", 4, 3, 1), ("majority", 3, 2, 1), ("consistency", 2, 1, 1)]
    assert stats[1]["k"] == 5


def test_apply_filters_order_matters_for_attribution():
    task = get_task("reverse_addition")
    items = [item("75", answers=["75", "1", "2", "3", "4"])]
    apply_filters(items, [MajorityFilter(0.7), LengthFilter(0)], task)
    assert items[0].dropped_by == "majority"


def test_apply_filters_with_the_maze_verifier_counts_tokens():
    maze, problems = maze_items(10)
    items = [item(maze.solve(p), (4, 12), prompt=maze.prompt(p)) for p in problems]
    kept, stats = apply_filters(items, [LengthFilter(0), VerifierFilter(("moves", "end"))], maze)
    assert kept == items  # every path has 9 tokens whatever its labels' digit counts
    assert stats[1]["checks"] == ["moves", "end"]


def test_the_verifier_without_checks_requires_every_check_the_task_declares():
    maze, problems = maze_items(4)
    reversed_path = ">".join(reversed(maze.solve(problems[0]).split(">")))  # valid moves, wrong end
    items = [item(maze.solve(p), (4, 12), prompt=maze.prompt(p)) for p in problems[1:]]
    items.append(item(reversed_path, (4, 12), prompt=maze.prompt(problems[0])))
    kept, stats = apply_filters(items, [VerifierFilter()], maze)
    assert stats[0]["checks"] == list(maze.check_names)
    assert kept == items[:-1] and stats[0]["failed"]["end"] == 1 and stats[0]["failed"]["moves"] == 0


def test_apply_filters_empty_input_and_no_filters():
    task = get_task("copy")
    specs = [LengthFilter(0), MajorityFilter(0.8), VerifierFilter(), ConsistencyFilter()]
    kept, stats = apply_filters([], specs, get_task("maze"))
    assert kept == []
    assert [(s["in"], s["kept"], s["dropped"]) for s in stats] == [(0, 0, 0)] * 4
    items = [item("1")]
    assert apply_filters(items, [], task) == (items, [])


def test_majority_spec_infers_k_and_rejects_mixed_sizes():
    task = get_task("copy")
    with pytest.raises(ValueError, match="different numbers"):
        apply_filters([item("1", answers=["1"] * 5), item("1", answers=["1"] * 3)],
                      [MajorityFilter(0.7)], task)
    with pytest.raises(ValueError, match="5 answers, got 3"):
        apply_filters([item("1", answers=["1"] * 3)], [MajorityFilter(0.7, k=5)], task)


def test_filtered_items_are_not_replaced():
    task = get_task("copy")
    items = [item(str(10**n)) for n in range(6)]
    kept, stats = apply_filters(items, [LengthFilter(2)], task)
    assert len(kept) == 3 and stats[0]["dropped"] == 3 and len(items) == 6


def test_filters_parse_from_their_config():
    assert FILTERS.parse({"kind": "length", "tau": 10}) == LengthFilter(10)
    assert FILTERS.parse({"kind": "majority", "tau": 0.7, "k": 5}) == MajorityFilter(0.7, 5)
    verifier = FILTERS.parse({"kind": "verifier", "checks": ["moves"]})
    assert verifier == VerifierFilter(("moves",))
    assert FILTERS.parse({"kind": "consistency"}) == ConsistencyFilter()
    assert FILTERS.parse({"kind": "consistency", "shifts": 2}) == ConsistencyFilter(shifts=2)
    assert FILTERS.parse({"kind": "consistency", "shifts": 1, "cuts": 1}) == ConsistencyFilter(shifts=1, cuts=1)
    assert FILTERS.parse({"kind": "consistency", "splits": 2}).twins == (0, 0, 2, True)
    assert FILTERS.parse({"kind": "consistency", "splits": 1, "plain": False}).twins == (0, 0, 1, False)


@pytest.mark.parametrize("config, words", [
    ({"kind": "vote"}, "'vote'"),
    ({"kind": "length", "threshold": 2}, "'threshold'"),
    ({"kind": "length"}, "length"),
    ({"kind": "length", "tau": -1}, "tau"),
    ({"kind": "length", "tau": 1.5}, "tau"),
    ({"kind": "majority", "tau": 7}, "tau"),
    ({"kind": "majority", "tau": 0.7, "k": 0}, "k"),
    ({"kind": "verifier", "checks": []}, "checks"),  # which names exist is the task's: test_configs
    ({"kind": "consistency", "shifts": -1}, "shifts"),
    ({"kind": "consistency", "shifts": True}, "shifts"),
    ({"kind": "consistency", "cuts": -1}, "cuts"),
    ({"kind": "consistency", "cuts": 1.5}, "cuts"),
    ({"kind": "consistency", "splits": -1}, "splits"),
    ({"kind": "consistency", "plain": False}, "plain: false needs shifts, cuts or splits"),
])
def test_filter_config_errors_name_the_problem(config, words):
    with pytest.raises(ValueError, match=words):
        FILTERS.parse(config)
