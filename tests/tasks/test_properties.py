"""Properties every task must have, checked on random problems of random difficulty."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfimprove.tasks import get_task
from selfimprove.tasks.base import TaskError

# Small enough to run fast, large enough to reach multi-step carries and long maze paths.
DIFFICULTIES = {
    "reverse_addition": st.integers(1, 30),
    "forward_addition": st.integers(1, 30),
    "multiplication": st.tuples(st.integers(1, 8), st.integers(1, 8)),
    "copy": st.integers(1, 40),
    "reverse": st.integers(1, 40),
    "maze": st.integers(2, 99).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))),
}
TASKS = sorted(DIFFICULTIES)
SEEDS = st.integers(0, 2**32 - 1)
FAST = settings(max_examples=40, deadline=None)


def test_every_registered_task_is_covered() -> None:
    from selfimprove.tasks import task_names

    assert set(task_names()) == set(TASKS)


@pytest.mark.parametrize("name", TASKS)
@FAST
@given(data=st.data(), seed=SEEDS)
def test_sampled_problem_round_trips_and_solves(name: str, data, seed: int) -> None:
    task = get_task(name)
    difficulty = data.draw(DIFFICULTIES[name])
    problem = task.sample(difficulty, random.Random(seed))
    assert task.difficulty(problem) == difficulty
    assert task.parse(task.prompt(problem)) == problem
    answer = task.solve(problem)
    assert task.verify(problem, answer).ok
    tokens = task.split(answer)
    vocabulary = set(task.vocabulary())
    assert set(task.split(task.prompt(problem))) <= vocabulary and set(tokens) <= vocabulary
    bound = task.max_answer_len(difficulty)
    assert len(tokens) <= bound if name == "forward_addition" else len(tokens) == bound


@pytest.mark.parametrize("name", TASKS)
@FAST
@given(data=st.data(), seed=SEEDS)
def test_corrupted_answer_fails(name: str, data, seed: int) -> None:
    task = get_task(name)
    problem = task.sample(data.draw(DIFFICULTIES[name]), random.Random(seed))
    tokens = task.split(task.solve(problem))
    where = data.draw(st.integers(0, len(tokens) - 1))
    how = data.draw(st.sampled_from(["replace", "delete", "append"]))
    if how == "replace":
        choices = [t for t in task.vocabulary() if t != tokens[where]]
        tokens[where] = data.draw(st.sampled_from(choices))
    elif how == "delete":
        del tokens[where]
    else:
        tokens.append(data.draw(st.sampled_from(task.vocabulary())))
    verdict = task.verify(problem, "".join(tokens))
    assert not verdict.ok and verdict.check and verdict.reason


@pytest.mark.parametrize("name", TASKS)
@settings(max_examples=10, deadline=None)
@given(data=st.data(), seed=SEEDS)
def test_same_seed_same_problems(name: str, data, seed: int) -> None:
    task = get_task(name)
    difficulty = data.draw(DIFFICULTIES[name])
    first = [task.sample(difficulty, rng) for rng in [random.Random(seed)] for _ in range(3)]
    again = [task.sample(difficulty, rng) for rng in [random.Random(seed)] for _ in range(3)]
    assert first == again


@pytest.mark.parametrize("name", ["reverse_addition", "copy", "reverse"])
def test_sample_initial_covers_the_range(name: str) -> None:
    task = get_task(name)
    rng = random.Random(0)
    seen = {task.difficulty(task.sample_initial(2, 5, rng)) for _ in range(200)}
    assert seen == {2, 3, 4, 5}


def test_multiplication_initial_lengths_are_independent_per_axis() -> None:
    task = get_task("multiplication")
    rng = random.Random(0)
    seen = {task.difficulty(task.sample_initial((1, 2), (3, 4), rng)) for _ in range(400)}
    assert seen == {(a, b) for a in (1, 2, 3) for b in (2, 3, 4)}


@pytest.mark.parametrize("name", ["forward_addition", "reverse_addition"])
def test_addition_nines_share_plants_runs_of_nines_in_round_0_only(name: str) -> None:
    from selfimprove.carries import nines

    plain, planted = get_task(name), get_task(name, nines=0.5)
    # Without the option D0's draws are unchanged (the same rng stream as before it existed).
    draws = [plain.sample_initial(1, 8, random.Random(3)) for _ in range(3)]
    assert draws == [get_task(name, nines=0.0).sample_initial(1, 8, random.Random(3)) for _ in range(3)]
    rng = random.Random(0)
    d0 = [planted.sample_initial(1, 8, rng) for _ in range(2000)]
    assert {planted.difficulty(p) for p in d0} == set(range(1, 9))
    long_runs = sum(nines(p.a, p.b) >= 3 for p in d0) / len(d0)
    uniform = [plain.sample_initial(1, 8, rng) for _ in range(2000)]
    assert long_runs > 0.08 and sum(nines(p.a, p.b) >= 3 for p in uniform) / len(uniform) < 0.02
    rounds = [planted.sample(8, rng) for _ in range(500)]  # self-labelled rounds draw uniform digits
    assert sum(nines(p.a, p.b) >= 3 for p in rounds) / len(rounds) < 0.03
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(TaskError, match="nines must be a share"):
            get_task(name, nines=bad)


def test_maze_initial_skips_impossible_combinations() -> None:
    task = get_task("maze")
    rng = random.Random(0)
    seen = {task.difficulty(task.sample_initial((1, 2), (4, 4), rng)) for _ in range(400)}
    assert seen == {(h, n) for h in range(1, 5) for n in range(2, 5) if h < n}
    with pytest.raises(TaskError):
        task.sample_initial((5, 2), (6, 5), rng)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("reverse_addition", 0),
        ("reverse_addition", (3, 4)),
        ("copy", -1),
        ("multiplication", 3),
        ("multiplication", (0, 3)),
        ("multiplication", (1, 2, 3)),
        ("maze", (3, 3)),
        ("maze", (0, 5)),
        ("maze", (9, 100)),
        ("maze", 9),
    ],
)
def test_out_of_range_difficulty_is_refused(name: str, bad) -> None:
    with pytest.raises(TaskError):
        get_task(name).sample(bad, random.Random(0))


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("multiplication", "12+34="),
        ("multiplication", "120*3="),  # reversed operand 021 has a leading zero
        ("multiplication", "12*3"),
        ("copy", "0123="),
        ("copy", "="),
        ("reverse", "12a="),
        ("maze", "1>2#1:2-2:1"),
    ],
)
def test_malformed_prompt_is_refused(name: str, prompt: str) -> None:
    with pytest.raises(TaskError):
        get_task(name).parse(prompt)


@pytest.mark.parametrize(
    ("answer", "check"),
    [
        ("17442+067801(132331)+0075180(1398490)+00091720=13976631", "value"),
        ("17442+067801(132330)+0075180(1398490)+00091720=13976630", "steps"),
        ("17442+067801+0075180(1398490)+00091720=13976630", "format"),
        ("13976630", "format"),
    ],
)
def test_multiplication_verdict_says_what_differs(answer: str, check: str) -> None:
    task = get_task("multiplication")
    assert task.verify(task.parse("9172*9431="), answer).check == check
