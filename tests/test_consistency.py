"""Consistency twins: oracle answers always agree, corrupted answers are caught, prompts parse."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfimprove.consistency import Twin, consistent, twin_groups, twins
from selfimprove.tasks import get_task
from selfimprove.tasks.addition import resplit

# (task, difficulties to draw from): small enough to be fast, large enough to cover edge cases.
CASES = {
    "reverse_addition": [1, 2, 3, 7, 20],
    "forward_addition": [1, 2, 3, 7, 20],
    "copy": [1, 2, 5, 30],
    "reverse": [1, 2, 5, 30],
    "multiplication": [(1, 1), (1, 3), (3, 1), (2, 2), (4, 3), (6, 6)],
    "maze": [(1, 2), (1, 5), (3, 10), (9, 30), (12, 99)],
}


def corrupt(answer: str) -> str:
    """Changes the last digit, the way a model's near miss would."""
    last = answer[-1]
    return answer[:-1] + str((int(last) + 1) % 10)


def draw(name, index, seed):
    task = get_task(name)
    difficulties = CASES[name]
    rng = random.Random(seed)
    problem = task.sample(difficulties[index % len(difficulties)], rng)
    return task, problem, rng


task_names = st.sampled_from(sorted(CASES))


@settings(max_examples=150, deadline=None)
@given(task_names, st.integers(0, 100), st.integers(0, 2**32))
def test_oracle_answers_agree_with_every_twin(name, index, seed):
    task, problem, rng = draw(name, index, seed)
    ts = twins(task, problem, rng)
    answers = [task.solve(task.parse(t.prompt)) for t in ts]
    assert consistent(task.solve(problem), answers, ts)


@settings(max_examples=150, deadline=None)
@given(task_names, st.integers(0, 100), st.integers(0, 2**32))
def test_twins_parse_and_keep_the_difficulty_but_change_the_prompt(name, index, seed):
    task, problem, rng = draw(name, index, seed)
    for twin in twins(task, problem, rng):
        parsed = task.parse(twin.prompt)
        assert task.prompt(parsed) == twin.prompt
        assert twin.prompt != task.prompt(problem)
        if name == "multiplication":  # b x a: the axes swap
            assert task.difficulty(parsed) == task.difficulty(problem)[::-1]
        else:
            assert task.difficulty(parsed) == task.difficulty(problem)


@settings(max_examples=150, deadline=None)
@given(task_names, st.integers(0, 100), st.integers(0, 2**32))
def test_a_corrupted_answer_is_caught_by_an_oracle_answered_twin(name, index, seed):
    task, problem, rng = draw(name, index, seed)
    ts = twins(task, problem, rng)
    if not ts:  # a x a multiplication, 9 + 9: nothing to compare against
        assert name in ("multiplication", "reverse_addition", "forward_addition")
        return
    answers = [task.solve(task.parse(t.prompt)) for t in ts]
    assert not consistent(corrupt(task.solve(problem)), answers, ts)


def test_same_seed_same_twins():
    task = get_task("maze")
    problem = task.sample((5, 20), random.Random(1))
    first = [t.prompt for t in twins(task, problem, random.Random(7))]
    assert first == [t.prompt for t in twins(task, problem, random.Random(7))]
    assert first != [t.prompt for t in twins(task, problem, random.Random(8))]


@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32))
def test_resplit_keeps_digit_counts_and_the_sum(la, lb, seed):
    rng = random.Random(seed)
    a, b = rng.randint(10 ** (la - 1), 10**la - 1), rng.randint(10 ** (lb - 1), 10**lb - 1)
    d = resplit(a, b, rng)
    if d is None:  # only possible when no non-zero shift fits
        # (an operand of 0 is not a number of its digit count: 1 + 1 has no re-split)
        assert all(len(str(a + e)) != la or len(str(b - e)) != lb or b - e < 1 or a + e < 1
                   for e in (-1, 1))
        return
    assert d != 0
    assert (len(str(a + d)), len(str(b - d))) == (la, lb)
    assert b - d >= 10 ** (lb - 1)


def test_addition_twins_are_swap_and_resplit():
    task = get_task("forward_addition")
    problem = task.parse("12+345=")
    swap, split = twins(task, problem, random.Random(0))
    assert swap.prompt == "345+12="
    other = task.parse(split.prompt)
    assert other.a + other.b == 357 and (len(str(other.a)), len(str(other.b))) == (2, 3)
    assert [t.prompt for t in twins(task, task.parse("9+9="), random.Random(0))] == []
    assert len(twins(task, task.parse("5+5="), random.Random(0))) == 1  # resplit only


def test_multiplication_twin_swaps_operands_and_compares_products_only():
    task = get_task("multiplication")
    problem = task.parse("9172*9431=")
    (twin,) = twins(task, problem, random.Random(0))
    assert twin.prompt == "9431*9172="
    original, swapped = task.solve(problem), task.solve(task.parse(twin.prompt))
    assert original != swapped  # different chains of thought ...
    assert twin.agrees(original, swapped)  # ... same product
    assert not twin.agrees(original, swapped[:-1] + "9")
    assert not twin.agrees("garbage", swapped)
    assert twins(task, task.parse("21*21="), random.Random(0)) == []


def test_string_twin_maps_the_answer_through_the_permutation():
    task = get_task("reverse")
    problem = task.parse("1000=")
    (twin,) = twins(task, problem, random.Random(3))
    digits = twin.prompt[:-1]
    assert digits[0] != "0" and len(set(digits)) == 2 and digits[1:] == digits[1] * 3
    assert twin.agrees("0001", digits[::-1])
    assert not twin.agrees("0010", digits[::-1])


def test_maze_twin_relabels_the_path():
    task = get_task("maze")
    prompt = "2>19#73:70,75-97:2,70-70:73,97,59-75:73,30,19-2:97-30:75-59:70-19:75="
    problem = task.parse(prompt)
    (twin,) = twins(task, problem, random.Random(0))
    relabelled = task.parse(twin.prompt)
    assert sorted(len(n) for _, n in relabelled.adjacency) == sorted(
        len(n) for _, n in problem.adjacency)
    answer = task.solve(relabelled)
    assert twin.agrees("2>97>70>73>75>19", answer)
    assert not twin.agrees("2>97>70>73>75", answer)
    assert not twin.agrees("2>97>70>73>75>18", answer)  # 18 is not a node
    assert not twin.agrees("2>97>x", answer)


def test_consistent_needs_one_answer_per_twin_and_is_vacuous_without_twins():
    twin = Twin("p", lambda a, b: a == b)
    with pytest.raises(ValueError, match="1 twin questions but 2"):
        consistent("1", ["1", "1"], [twin])
    assert consistent("anything", [], [])


def test_unknown_task_is_an_error():
    class Fake:
        name = "sorting"

    with pytest.raises(ValueError, match="sorting"):
        twins(Fake(), None, random.Random(0))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["reverse_addition", "forward_addition"]), st.integers(1, 20), st.integers(0, 2**32))
def test_shifted_twins_keep_b_s_digit_count_agree_with_the_oracle_and_catch_a_corrupted_label(name, digits, seed):
    task, rng = get_task(name), random.Random(seed)
    problem = task.sample(digits, rng)
    shifted = twins(task, problem, rng, shifts=2)[-2:]
    for twin in shifted:
        other = task.parse(twin.prompt)
        assert other.a == problem.a and other.b != problem.b and len(str(other.b)) == len(str(problem.b))
        assert twin.agrees(task.solve(problem), task.solve(other))
        assert not twin.agrees(corrupt(task.solve(problem)), task.solve(other))
        assert not twin.agrees(task.solve(problem), "1+2")  # malformed twin answers disagree


def test_shifted_twins_are_added_after_the_built_in_ones_and_only_for_addition():
    add = get_task("reverse_addition")
    problem = add.parse("21+543=")
    plain = [t.prompt for t in twins(add, problem, random.Random(3))]
    with_shifts = [t.prompt for t in twins(add, problem, random.Random(3), shifts=2)]
    assert with_shifts[:2] == plain and len(with_shifts) == 4
    with pytest.raises(ValueError, match="shifted twins exist for"):
        twins(get_task("multiplication"), get_task("multiplication").parse("12*34="), random.Random(0), shifts=1)


@pytest.mark.parametrize("name", ["copy", "reverse"])
@pytest.mark.parametrize("seed", range(20))
def test_split_twins_are_shorter_agree_with_the_oracle_and_catch_length_and_digit_errors(name, seed):
    task, rng = get_task(name), random.Random(seed)
    problem = task.sample(rng.randint(2, 30), rng)
    label = task.solve(problem)
    split = twins(task, problem, rng, shifts=1)[1:]  # after the digit permutation
    if not split:  # every character after the first is 0: nothing to cut
        assert set(problem.digits[1:]) <= {"0"}
        return
    assert len(split) == 2
    parts = [task.parse(t.prompt) for t in split]
    assert parts[0].digits + parts[1].digits == problem.digits
    truths = [task.solve(q) for q in parts]
    assert all(t.agrees(label, a) for t, a in zip(split, truths))
    dropped, changed = label[:-1], label[:-1] + ("1" if label[-1] != "1" else "2")
    for wrong in (dropped, label + label[-1], changed):
        assert not all(t.agrees(wrong, a) for t, a in zip(split, truths)), wrong


def test_a_shift_catches_a_carry_mistake_that_the_swapped_twin_repeats():
    """A model that misjudges the carry into the top column whenever the column below sums to 4 or
    14 (the mistake the demo's kept labels showed) answers b + a with the same mistake, since the
    column sums are unchanged; a + (b + e) moves the column sums, so a shift exposes most of them."""
    task, rng = get_task("reverse_addition"), random.Random(0)

    def flawed(p) -> str:
        a, b = str(p.a)[::-1], str(p.b)[::-1]  # least significant digit first
        total = p.a + p.b
        if len(a) == len(b) >= 2 and (int(a[-2]) + int(b[-2])) % 10 == 4:
            total += 10 ** (len(a) - 1) * (-1 if int(a[-2]) + int(b[-2]) >= 10 else 1)
        return task.write_total(p, total)

    wrong = [p for p in (task.sample(12, rng) for _ in range(3000)) if flawed(p) != task.solve(p)]
    assert len(wrong) > 100
    swap_kept = shift_kept = 0
    for p in wrong:
        swap, *_, shift = twins(task, p, rng, shifts=1)
        swap_kept += swap.agrees(flawed(p), flawed(task.parse(swap.prompt)))
        shift_kept += shift.agrees(flawed(p), flawed(task.parse(shift.prompt)))
    assert swap_kept == len(wrong)  # the swap repeats every one of these mistakes
    assert shift_kept < 0.2 * len(wrong)


def test_the_worked_examples_in_the_docstrings_hold():
    import doctest

    from selfimprove import consistency

    result = doctest.testmod(consistency, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["reverse_addition", "copy", "reverse"])
def test_twin_groups_are_twins_kept_apart_from_the_same_draws(name):
    task = get_task(name)
    problem = task.sample(6, random.Random(1))
    plain, shifted = twin_groups(task, problem, random.Random(5), shifts=3)
    flat = twins(task, problem, random.Random(5), shifts=3)
    assert [t.prompt for t in plain + [t for group in shifted for t in group]] == [t.prompt for t in flat]
    assert len(shifted) == 3 and all(len(group) == (1 if "addition" in name else 2) for group in shifted)


def addition_of_lengths(name, la, lb, seed):
    """``name``'s task, a sum of an ``la``-digit and an ``lb``-digit number, and an rng for its twins."""
    task = get_task(name)
    problem = task.from_addends(random.Random(seed).randint(10 ** (la - 1), 10**la - 1),
                                random.Random(seed + 1).randint(10 ** (lb - 1), 10**lb - 1))
    return task, problem, random.Random(seed)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["reverse_addition", "forward_addition"]), st.integers(1, 20), st.integers(1, 20),
       st.integers(0, 2**32))
def test_cut_twins_are_the_top_digits_at_most_half_as_long_and_agree_with_the_oracle(name, la, lb, seed):
    task, problem, rng = addition_of_lengths(name, la, lb, seed)
    label = task.solve(problem)
    _, groups = twin_groups(task, problem, rng, cuts=2)
    cut = [t for group in groups for t in group]
    if min(la, lb) < 2:
        assert cut == []
        return
    assert len(cut) == 2
    for twin in cut:
        top = task.parse(twin.prompt)
        k = len(str(problem.a)) - len(str(top.a))
        assert (top.a, top.b) == (problem.a // 10**k, problem.b // 10**k)
        assert 1 <= min(len(str(top.a)), len(str(top.b))) <= min(la, lb) // 2
        truth = task.solve(top)
        assert twin.agrees(label, truth)
        spurious_carry = task.write_total(problem, problem.a + problem.b + 10 ** max(la, lb))
        assert not twin.agrees(spurious_carry, truth)  # a carry out of the top column where there is none
        assert not twin.agrees(task.write_total(problem, problem.a + problem.b + 2 * 10**k), truth)
        assert not twin.agrees(label + "0", truth) and not twin.agrees(label, "1+2")  # malformed


def test_cut_twins_come_after_the_shifted_ones_and_only_for_addition():
    add = get_task("reverse_addition")
    problem = add.parse("4321+8765=")
    with_shifts = [t.prompt for t in twins(add, problem, random.Random(3), shifts=1)]
    both = [t.prompt for t in twins(add, problem, random.Random(3), shifts=1, cuts=1)]
    assert both[:-1] == with_shifts and len(both) == len(with_shifts) + 1
    plain, extra = twin_groups(add, problem, random.Random(3), shifts=1, cuts=2)
    assert len(extra) == 3 and [t.prompt for t in plain + extra[0]] == with_shifts
    for name, problem_text in (("copy", "12345="), ("multiplication", "12*34=")):
        with pytest.raises(ValueError, match="cut twins exist for"):
            twins(get_task(name), get_task(name).parse(problem_text), random.Random(0), cuts=1)


def test_a_cut_catches_the_carry_out_mistake_that_passes_every_same_length_twin():
    """The mistake seed 3's demo kept (docs/EXPERIMENTS.md U1): at the new length the model writes
    a carry out of the top column where there is none, whatever the digits, while it is right on
    shorter sums. b + a, a re-split and a shift all have the new length, so they repeat it; the
    cut twin is a short sum and exposes every one."""
    task, rng = get_task("reverse_addition"), random.Random(0)
    new_length = 12

    def flawed(p) -> str:
        total = p.a + p.b
        if len(str(p.a)) == new_length and total < 10**new_length:
            total += 10**new_length  # a spurious top carry on every new-length sum that has none
        return task.write_total(p, total)

    wrong = [p for p in (task.sample(new_length, rng) for _ in range(1000)) if flawed(p) != task.solve(p)]
    assert len(wrong) > 100
    same_length_kept = cut_kept = 0
    for p in wrong:
        *same_length, cut = twins(task, p, rng, shifts=1, cuts=1)
        answers = [flawed(task.parse(t.prompt)) for t in same_length]
        same_length_kept += consistent(flawed(p), answers, same_length)
        cut_kept += cut.agrees(flawed(p), flawed(task.parse(cut.prompt)))
    assert same_length_kept > 0.3 * len(wrong)  # the mistake passes the twins of its own length ...
    assert cut_kept == 0  # ... and never the short one


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["reverse_addition", "forward_addition"]), st.integers(1, 20), st.integers(1, 20),
       st.integers(0, 2**32))
def test_split_twins_ask_two_shorter_sums_that_fix_the_label_exactly(name, la, lb, seed):
    task, problem, rng = addition_of_lengths(name, la, lb, seed)
    label = task.solve(problem)
    _, groups = twin_groups(task, problem, rng, splits=2)
    split = [t for group in groups for t in group]
    longer = max(la, lb)
    points = [k for k in range(1, min(la, lb)) if max(longer - k, k + 1) < longer]  # both questions shorter
    if min(la, lb) < 2 or max(la, lb) < 3:
        assert split == [] and points == []
        return
    assert len(split) == min(2, len(points)) and all(len(group) == 1 for group in groups)
    cut_at = [len(str(task.parse(t.prompts[1]).a)) - 1 for t in split]
    assert len(set(cut_at)) == len(cut_at) and set(cut_at) <= set(points)  # distinct split points
    for j, twin in enumerate(split):
        top, low = (task.parse(q) for q in twin.prompts)
        # Both questions are shorter than the problem, with operands of equal length where the
        # problem's are equal (an equal-length model never saw anything else) and no leading 0.
        assert max(task.difficulty(top), task.difficulty(low)) < task.difficulty(problem)
        if la == lb and j == 0:  # the first split near the middle (unequal operands: the shorter bounds it)
            assert max(task.difficulty(top), task.difficulty(low)) <= la // 2 + 2
        assert len(str(low.a)) == len(str(low.b)) and str(low.a)[0] == str(low.b)[0] == "1"
        assert (la != lb) or len(str(top.a)) == len(str(top.b))
        answers = (task.solve(top), task.solve(low))
        assert twin.agrees(label, *answers) and consistent(label, answers, [twin])
        # Every other value is rejected: a carry out of the top, a carry into the top part (the
        # cut's blind spot), a wrong low digit, and malformed answers.
        k = len(str(low.a)) - 1
        for off in (10 ** max(la, lb), 10**k, -(10**k), 1, -1):
            if problem.a + problem.b + off > 0:
                assert not twin.agrees(task.write_total(problem, problem.a + problem.b + off), *answers)
        assert not twin.agrees(label + "0", *answers) and not twin.agrees(label, "1+2", answers[1])


def short_sighted_sum(a: int, b: int, window: int) -> int:
    """a + b by a model that decides each column's carry-in by looking at most ``window`` columns
    down: through a longer run of columns summing to 9 it guesses no carry (forward addition's
    lookahead miss, docs/EXPERIMENTS.md F9, FS1)."""
    xs, ys = str(a)[::-1], str(b)[::-1]
    n = max(len(xs), len(ys))
    col = [int(xs[i] if i < len(xs) else 0) + int(ys[i] if i < len(ys) else 0) for i in range(n)]

    def carry_into(i: int) -> int:
        for j in range(i - 1, max(-1, i - 1 - window), -1):
            if col[j] != 9:
                return int(col[j] >= 10)
        return 0  # the run of nines reaches past the window (or the bottom): no carry guessed

    return sum(((col[i] + carry_into(i)) % 10) * 10**i for i in range(n)) + carry_into(n) * 10**n


def test_splits_at_every_point_catch_a_lookahead_miss_that_one_middle_split_repeats():
    """A run of nines longer than the model's lookahead, with the carry starting below it: the
    label misses the carry. A split below the run's source leaves the miss in the low sum, which
    the model answers with the same miss, so that split agrees with the wrong label; a split point
    that cuts the run gives a low sum with a shorter run, which the model gets right."""
    task, rng = get_task("forward_addition"), random.Random(0)  # with every point asked, rng only orders them
    a, b = int("3" + "4" * 6 + "7" + "21"), int("5" + "5" * 6 + "5" + "11")  # columns 9 x 6 over a carry
    problem = task.from_addends(a, b)
    label = task.write_total(problem, short_sighted_sum(a, b, window=3))
    assert label != task.solve(problem)

    def model_agrees(twins_):
        answers = [task.write_total(task.parse(q), short_sighted_sum(*task.addends(task.parse(q)), window=3))
                   for t in twins_ for q in t.prompts]
        return consistent(label, answers, twins_)

    every = [t for group in twin_groups(task, problem, rng, splits=99, plain=False)[1] for t in group]
    assert len(every) == len(str(a)) - 2  # every point whose two questions are shorter than the problem
    assert not model_agrees(every)
    assert sum(model_agrees([t]) for t in every) >= 1  # some single split repeats the miss ...
    assert sum(not model_agrees([t]) for t in every) >= 1  # ... others catch it
    right = task.solve(problem)
    oracle = [task.solve(task.parse(q)) for t in every for q in t.prompts]
    assert consistent(right, oracle, every)  # a right label passes every point


def test_a_split_catches_the_carry_in_mistake_that_passes_the_cut():
    """The wrong labels low-agreement rounds kept (docs/EXPERIMENTS.md U3, U5, U6): the top operand
    columns off by one because the carry coming in from below was misjudged. The cut twin allows
    the label's top digits to be its answer plus 0 or 1, so it cannot see that carry; the split
    twin's low sum carries it, and a model right on short sums rejects every such label."""
    task, rng = get_task("reverse_addition"), random.Random(1)
    cut_kept = split_kept = 0
    wrong = 0
    for _ in range(500):
        p = task.sample(10, rng)
        (cut,), (split,) = twin_groups(task, p, rng, cuts=1, splits=1)[1]
        k = len(str(p.a)) - len(str(task.parse(cut.prompt).a))
        carry_in = (p.a % 10**k + p.b % 10**k) >= 10**k
        flawed = task.write_total(p, p.a + p.b + (-(10**k) if carry_in else 10**k))  # the carry in flipped
        wrong += 1
        cut_kept += cut.agrees(flawed, task.solve(task.parse(cut.prompt)))
        split_kept += consistent(flawed, [task.solve(task.parse(q)) for q in split.prompts], [split])
    assert cut_kept == wrong  # the cut passes every one ...
    assert split_kept == 0  # ... the split none


def test_split_twins_come_last_and_only_for_addition():
    add = get_task("forward_addition")
    problem = add.parse("43210+87654=")
    before = [t.prompts for t in twins(add, problem, random.Random(3), shifts=1, cuts=1)]
    after = [t.prompts for t in twins(add, problem, random.Random(3), shifts=1, cuts=1, splits=1)]
    assert after[:-1] == before and len(after[-1]) == 2
    for name, problem_text in (("copy", "12345="), ("multiplication", "12*34=")):
        with pytest.raises(ValueError, match="split twins exist for"):
            twins(get_task(name), get_task(name).parse(problem_text), random.Random(0), splits=1)


def test_without_plain_twins_only_the_extra_ones_are_asked():
    add = get_task("reverse_addition")
    problem = add.parse("4321+8765=")
    alone = twins(add, problem, random.Random(0), splits=1, plain=False)
    assert len(alone) == 1 and len(alone[0].prompts) == 2
    own, extra = twin_groups(add, problem, random.Random(0), shifts=1, splits=1, plain=False)
    assert own == [] and len(extra) == 2


def test_consistent_reads_as_many_answers_as_a_twin_asks():
    pair = Twin("1+2=", lambda label, x, y: label == x + y, ("3+4=",))
    assert pair.prompts == ("1+2=", "3+4=")
    assert consistent("ab", ["a", "b"], [pair]) and not consistent("ab", ["a", "c"], [pair])
    with pytest.raises(ValueError, match="2 twin questions but 1 twin answers"):
        consistent("ab", ["a"], [pair])
