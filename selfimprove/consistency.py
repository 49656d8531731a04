"""Label-free consistency check (beyond the paper): a label must survive a symmetry of its task.

For a problem the task builds *twins*: other problems whose answers follow from the original
answer by a known rule. The model answers the twins too; a label is kept only when every twin
answer agrees with it. Nothing here reads ground truth, so the check works on unlabelled problems.
Each task declares its own twins (``twins``, and ``shifted_twins`` for a second kind; see
``HasTwins`` in tasks/base.py); the built-in ones are::

    reverse addition 12 + 345 ("21+543=")  twins "543+21=" (b + a) and e.g. "06+792=" (60 + 297,
        the same sum re-split with unchanged digit counts): both answers must equal "7530"
    copy "12345="     sigma = a digit permutation, e.g. twin "80349=": answer sigma("12345")
    copy, split       "12345=" -> "12=" and "345=": the two answers must compose to the label
        (opt-in, ``shifts`` splits per problem); the twins are shorter, where the model is sure
    maze              the same tree relabelled and reshuffled: the relabelled original path
    multiplication    "21*3=" -> twin "3*21=": the products after the last "=" must match

    addition, shifted  "21+543=" -> e.g. "21+778=" (12 + 877: b moved by e = 532, its digit
        count kept): the twin's answer ("9880", 889) minus e must equal the label (357). b + a
        and a re-split keep every column's digit sum modulo 10, so a carry the model misjudges
        for a given column sum is misjudged alike on them; a shift changes the column sums and
        breaks that (opt-in, ``shifts`` twins per problem, docs/EXPERIMENTS.md A2)
    addition, cut      "4321+8765=" (1234 + 5678) -> e.g. "21+65=" (12 + 56, the top digits only, at
        most half as long): the label's value ("21960", 6912) without its k = 2 cut-off digits
        (69) must be the twin's answer ("860", 68) plus 0 or 1, the carry from below. Every other twin has the problem's
        length, so a mistake the model makes at a new length whatever the digits (a carry out of
        the top column where there is none) passes them; a short twin does not make it (opt-in,
        ``cuts`` twins per problem, docs/EXPERIMENTS.md U1)
    addition, split    "4321+8765=" (1234 + 5678) -> "21+65=" (12 + 56, the top digits) together with
        "431+871=" (134 + 178: the low k = 2 digits, each with a 1 put in front so both keep k + 1
        digits and none starts with 0): the label's value must be 68 * 10^2 + (312 - 2 * 10^2) = 6912
        exactly, the carry from below included. Both questions are shorter than the problem, and
        the rule fixes every digit of the label, so a wrong label passes only if the model errs on
        the short sums too (opt-in, ``splits`` per problem at distinct points, as many as there are
        when fewer; each one twin that asks two questions)

A wrong label passes only when the model makes the *matching* mistake on every twin, which is
much rarer than one mistake. An answer that cannot be mapped (malformed, unknown maze node)
disagrees. A problem with no twin (multiplication a x a; 9 + 9) is consistent by default.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from selfimprove.tasks.base import (
    HasCutTwins,
    HasShiftedTwins,
    HasSplitTwins,
    HasTwins,
    Problem,
    Task,
    Twin,
)

__all__ = ["Twin", "consistent", "has_cut_twins", "has_shifted_twins", "has_split_twins", "has_twins", "missing_twins",
           "twin_groups", "twin_prompts", "twins", "twins_agree"]


def has_twins(task: Task) -> bool:
    return isinstance(task, HasTwins)


def has_shifted_twins(task: Task) -> bool:
    return isinstance(task, HasTwins) and isinstance(task, HasShiftedTwins)


def has_cut_twins(task: Task) -> bool:
    return isinstance(task, HasTwins) and isinstance(task, HasCutTwins)


def has_split_twins(task: Task) -> bool:
    return isinstance(task, HasTwins) and isinstance(task, HasSplitTwins)


def missing_twins(task: Task, shifts: int = 0, cuts: int = 0, splits: int = 0) -> str | None:
    """Why ``task`` cannot give its twins plus ``shifts`` shifted, ``cuts`` cut and ``splits``
    split ones, in one line; None when it can. The config check, ``twin_groups`` and the audit script raise it.

    >>> from selfimprove.tasks import get_task
    >>> missing_twins(get_task("copy"), shifts=1), missing_twins(get_task("copy"), cuts=1)[:30]
    (None, "task 'copy' has no cut twins: ")
    """
    if not has_twins(task):
        return f"task {task.name!r} has no consistency twins (it defines no twins(problem, rng))"
    if shifts and not has_shifted_twins(task):
        return (f"task {task.name!r} has no shifted twins: shifted twins exist for tasks with "
                "shifted_twins(problem, rng) only")
    if cuts and not has_cut_twins(task):
        return (f"task {task.name!r} has no cut twins: cut twins exist for tasks with cut_twins(problem, rng) "
                "only (addition has them)")
    if splits and not has_split_twins(task):
        return (f"task {task.name!r} has no split twins: split twins exist for tasks with "
                "split_twins(problem, rng) only (addition has them)")
    return None


def twins(task: Task, problem: Problem, rng: random.Random, shifts: int = 0, cuts: int = 0,
          splits: int = 0, plain: bool = True) -> list[Twin]:
    """The task's twins of ``problem``, then ``shifts`` times its shifted twins (addition: one
    shifted sum each; copy and reverse: one split, two twins), then ``cuts`` times its cut twins
    (addition: the sum of the top digits), then ``splits`` times its split twins (addition: one
    twin asking the top and the low sum); randomness only from ``rng``. ``plain=False`` leaves out
    the task's own twins (they have the problem's length, so at a new length a right label fails
    them whenever the model errs on one: agreement ~ accuracy^3 where a split alone gives ~ accuracy).

    >>> from selfimprove.tasks import get_task
    >>> add = get_task("reverse_addition")
    >>> [t.prompt for t in twins(add, add.parse("21+543="), random.Random(0))]
    ['543+21=', '06+792=']
    >>> shifted = twins(add, add.parse("21+543="), random.Random(0), shifts=1)[-1]
    >>> shifted.prompt, shifted.agrees("7530", "9880"), shifted.agrees("7531", "9880")
    ('21+778=', True, False)
    >>> cut = twins(add, add.parse("4321+8765="), random.Random(0), cuts=1)[-1]
    >>> cut.prompt, cut.agrees("21960", "860"), cut.agrees("21961", "860"), cut.agrees("21960", "870")
    ('21+65=', True, False, False)
    """
    own, extra = twin_groups(task, problem, rng, shifts, cuts, splits, plain)
    return own + [t for group in extra for t in group]


def twin_groups(task: Task, problem: Problem, rng: random.Random, shifts: int = 0,
                cuts: int = 0, splits: int = 0, plain: bool = True) -> tuple[list[Twin], list[list[Twin]]]:
    """``twins`` kept apart: the task's twins, and one group per shift, then one per cut, then
    one per split point (as many twins as the task gives for one: addition one shifted sum, one
    top-digit sum or one two-question split, copy and reverse the two halves of one split, none
    where a problem has none; splits at distinct points, as many as the problem has when fewer).
    The same draws from ``rng`` as ``twins``; without cuts and splits, the same draws as before
    they existed. ``plain=False``: no task twins (the first list is empty).

    >>> from selfimprove.tasks import get_task
    >>> copy = get_task("copy")
    >>> plain, shifted = twin_groups(copy, copy.parse("12345="), random.Random(2), shifts=2)
    >>> len(plain), [[t.prompt for t in group] for group in shifted]
    (1, [['12=', '345='], ['1234=', '5=']])
    """
    if (reason := missing_twins(task, shifts, cuts, splits)) is not None:
        raise ValueError(reason)
    own = task.twins(problem, rng) if plain else []
    shifted = [task.shifted_twins(problem, rng) for _ in range(shifts)]  # type: ignore[attr-defined]
    cut = [task.cut_twins(problem, rng) for _ in range(cuts)]  # type: ignore[attr-defined]
    split = [[t] for t in task.split_twins(problem, rng, splits)] if splits else []  # type: ignore[attr-defined]
    return own, shifted + cut + split


def twin_prompts(twins: Sequence[Twin]) -> list[str]:
    """Every prompt the model must answer for ``twins``, in the order ``consistent`` reads the
    answers (a twin that asks two questions gives two)."""
    return [prompt for t in twins for prompt in t.prompts]


def twins_agree(checks: Sequence[tuple[str, Sequence[Twin]]], ask: Callable[[list[str]], Sequence[str]]) -> list[bool]:
    """For each ``(label, twins)``: do the twins' answers agree with the label? ``ask(prompts)``
    answers every twin question of every check at once (one batch), in order.

    >>> same = Twin("543+21=", lambda a, b: a == b)
    >>> twins_agree([("7530", [same]), ("7531", [same])], lambda prompts: ["7530"] * len(prompts))
    [True, False]
    """
    asked = [twin_prompts(ts) for _, ts in checks]
    answers = ask([prompt for prompts in asked for prompt in prompts])
    out, offset = [], 0
    for (label, ts), prompts in zip(checks, asked):
        out.append(consistent(label, answers[offset : offset + len(prompts)], ts))
        offset += len(prompts)
    return out


def consistent(original_answer: str, twin_answers: Sequence[str], twins: Sequence[Twin]) -> bool:
    """True when every twin's answers agree with the original answer (vacuously with no twins).
    ``twin_answers`` answer ``twin_prompts(twins)``, in that order.

    >>> same = Twin("543+21=", lambda a, b: a == b)
    >>> consistent("7530", ["7530"], [same]), consistent("7530", ["7531"], [same])
    (True, False)
    """
    asked = sum(len(t.prompts) for t in twins)
    if len(twin_answers) != asked:
        raise ValueError(f"{asked} twin questions but {len(twin_answers)} twin answers")
    offset = 0
    for t in twins:
        n = len(t.prompts)
        if not t.agrees(original_answer, *twin_answers[offset : offset + n]):
            return False
        offset += n
    return True
