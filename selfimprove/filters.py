"""Label filters: plain functions over lists of self-labelled items returning ``(kept, stats)``.

No filter reads ground truth (``Task.solve``): they see prompts, labels and other models'
answers only. Dropped items are counted in ``stats``, never replaced. One call filters one
model's dataset (with k voters, each model's labels are filtered separately, paper §5)::

    >>> votes = ("7530", "7530", "753", "7530", "7530")
    >>> items = [Labelled("21+543=", 3, "7530", answers=votes)]
    >>> kept, stats = majority_filter(items, k=5, tau=0.7)  # 4 of 5 agree with the label: kept
    >>> stats["kept"], stats["need"], stats["by_difficulty"]
    (1, 4, {'3': {'in': 1, 'kept': 1}})

``apply_filters`` runs the filters of a config in order and writes ``dropped_by`` (the first
filter that rejected the item) on every dropped item, for ``labels.jsonl``.

A filter of a config (``rounds.filters``) is a frozen dataclass registered in ``FILTERS`` with an
``apply(items, task)`` method. What it needs from the rest of a run it declares, and the generic
code asks for that, never for a kind: ``votes`` (majority: every voting model's answer, and how
many models must vote, 0 for any number >= 2), ``twins`` (consistency: the labelling model's
answers to each problem's twins, with this many shifted ones) and ``checks`` (verifier: the
task's verifier checks it reads). A new filter is one class and its ``@FILTERS.register`` line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from selfimprove.registry import Registry
from selfimprove.tasks.base import Difficulty, Task, format_difficulty

Stats = dict[str, Any]


@dataclass
class Labelled:
    """One self-labelled problem in one model's dataset."""

    prompt: str
    difficulty: Difficulty
    label: str  # the answer of the model whose dataset this is
    answers: tuple[str, ...] = ()  # every voter's answer (majority vote); () otherwise
    twins_agree: bool | None = None  # set by the consistency check before filtering
    dropped_by: str | None = None  # first filter that rejected it


def _stats(name: str, items: Sequence[Labelled], kept: Sequence[Labelled], **extra: Any) -> Stats:
    """Counts overall and per difficulty ("5,6" keys, so the dict is JSON as it stands)."""
    by: dict[str, dict[str, int]] = {}
    for item in items:
        by.setdefault(format_difficulty(item.difficulty), {"in": 0, "kept": 0})["in"] += 1
    for item in kept:
        by[format_difficulty(item.difficulty)]["kept"] += 1
    counts = {"name": name, "in": len(items), "kept": len(kept), "dropped": len(items) - len(kept)}
    return {**counts, **extra, "by_difficulty": by}


def length_filter(
    items: Sequence[Labelled], tau: int, length: Callable[[str], int] = len
) -> tuple[list[Labelled], Stats]:
    """Drops a label more than ``tau`` tokens shorter than the longest of its difficulty (§5).

    L = max ``length(label)`` over the items of one difficulty (problems of one difficulty are
    labelled together, as the paper's batch); drop when ``L - length(label) > tau``. The
    authors' code drops when the label is ``>= t`` shorter, i.e. ``t = tau + 1``: their t = 1
    (multiplication) is tau = 0 here, their t = 2 (forward addition) is tau = 1. The paper's
    "more than 10 tokens" for multiplication is tau = 10.

    >>> items = [Labelled("p", 3, "7530"), Labelled("q", 3, "753"), Labelled("r", 3, "75")]
    >>> [i.label for i in length_filter(items, tau=1)[0]]
    ['7530', '753']
    """
    if tau < 0:
        raise ValueError(f"length filter tau must be >= 0, got {tau}")
    longest: dict[Difficulty, int] = {}
    for item in items:
        longest[item.difficulty] = max(longest.get(item.difficulty, 0), length(item.label))
    kept = [i for i in items if longest[i.difficulty] - length(i.label) <= tau]
    max_len = {format_difficulty(d): n for d, n in longest.items()}
    return kept, _stats("length", items, kept, tau=tau, max_len=max_len)


def votes_needed(k: int, tau: float) -> int:
    """``ceil(tau * k)`` computed exactly: 0.7 * 5 -> 4, 0.8 * 5 -> 4 (not 5), 1.0 * 5 -> 5.

    ``Fraction(str(tau))`` reads the decimal the config wrote, so ``0.7 * 5 = 3.5000000000000004``
    and ``0.6 * 5 = 3.0000000000000004`` float artefacts cannot add a vote.
    """
    if not 0 < tau <= 1:
        raise ValueError(f"majority tau must be in (0, 1], got {tau}")
    return math.ceil(Fraction(str(tau)) * k)


def majority_filter(
    items: Sequence[Labelled], k: int, tau: float
) -> tuple[list[Labelled], Stats]:
    """Keeps a label that at least ``ceil(tau * k)`` of the k voters' answers equal (§5).

    Answers are compared as stripped strings (decoded text, pads removed), never as token
    tuples. The model's own answer is one of the k votes.

    >>> item = Labelled("21+543=", 3, "7530", answers=("7530", "7530 ", "753", "7530", "7531"))
    >>> len(majority_filter([item], k=5, tau=0.7)[0]), len(majority_filter([item], 5, 0.8)[0])
    (0, 0)
    >>> len(majority_filter([item], k=5, tau=0.6)[0])
    1
    """
    need = votes_needed(k, tau)
    for item in items:
        if len(item.answers) != k:
            got = len(item.answers)
            raise ValueError(f"majority vote needs {k} answers, got {got} for {item.prompt!r}")
    kept = [i for i in items if sum(a.strip() == i.label.strip() for a in i.answers) >= need]
    return kept, _stats("majority", items, kept, k=k, tau=tau, need=need)


def _check_names(checks: tuple[str, ...], known: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Which names are known is the task's (``check_names``); without the task, only the shape."""
    if not checks or not all(isinstance(c, str) for c in checks) or any(c not in (known or checks) for c in checks):
        raise ValueError(f"verifier checks must be some of {known or 'the task check_names'}, got {checks}")
    return checks


def verifier_filter(
    items: Sequence[Labelled], task: Task, checks: Sequence[str]
) -> tuple[list[Labelled], Stats]:
    """Keeps a label that passes the named checks of ``task.checks(problem, label)`` (B.3.2).

    The maze task's checks are "format", "moves" (every hop is an edge), "end" (starts at S,
    ends at E) and "repeat" (no node twice). They read the prompt's graph, not the oracle.
    ``failed`` in the stats counts, per check, how many labels failed it.
    """
    known = getattr(task, "check_names", None)  # HasChecks in tasks/base.py
    if known is None or not callable(getattr(task, "checks", None)):
        raise ValueError(f"task {task.name!r} has no verifier checks")
    checks = _check_names(tuple(checks), tuple(known))
    kept, failed = [], {c: 0 for c in checks}
    for item in items:
        result = task.checks(task.parse(item.prompt), item.label)
        for c in checks:
            failed[c] += not result[c]
        if all(result[c] for c in checks):
            kept.append(item)
    return kept, _stats("verifier", items, kept, checks=list(checks), failed=failed)


def consistency_filter(items: Sequence[Labelled]) -> tuple[list[Labelled], Stats]:
    """Keeps a label whose consistency twins agreed (``selfimprove.consistency``).

    ``twins_agree`` is None when the check was not run, which is a pipeline bug, not a drop.
    """
    missing = [i.prompt for i in items if i.twins_agree is None]
    if missing:
        raise ValueError(f"consistency check not run for {len(missing)} items, e.g. {missing[0]!r}")
    kept = [i for i in items if i.twins_agree]
    return kept, _stats("consistency", items, kept)


class Filter(Protocol):
    """One filter of ``rounds.filters``: ``apply`` keeps some items and says how many it dropped."""

    def apply(self, items: Sequence[Labelled], task: Task) -> tuple[list[Labelled], Stats]: ...


FILTERS = Registry("filter", example="{kind: length, tau: 1}")


@FILTERS.register("length")
@dataclass(frozen=True)
class LengthFilter:
    tau: int  # drop a label more than tau tokens shorter than its difficulty's longest

    def __post_init__(self) -> None:
        if not isinstance(self.tau, int) or isinstance(self.tau, bool) or self.tau < 0:
            raise ValueError(f"length filter tau must be an integer >= 0, got {self.tau!r}")

    def apply(self, items: Sequence[Labelled], task: Task) -> tuple[list[Labelled], Stats]:
        # Lengths are counted in the task's tokens (a maze label's node is one).
        return length_filter(items, self.tau, length=lambda text: len(task.split(text)))


@FILTERS.register("majority")
@dataclass(frozen=True)
class MajorityFilter:
    tau: float  # keep if >= ceil(tau * k) of the k answers equal the label
    k: int | None = None  # None: every item's number of answers (all must agree)

    def __post_init__(self) -> None:
        votes_needed(self.k or 1, self.tau)  # validates tau
        if self.k is not None and self.k < 1:
            raise ValueError(f"majority filter k must be >= 1, got {self.k}")

    @property
    def votes(self) -> int:
        """Models that must vote: ``k``, or 0 for however many the run has (at least 2)."""
        return self.k or 0

    def apply(self, items: Sequence[Labelled], task: Task) -> tuple[list[Labelled], Stats]:
        k = self.k
        if k is None:
            sizes = {len(i.answers) for i in items}
            if len(sizes) > 1:
                raise ValueError(f"items carry different numbers of answers: {sorted(sizes)}")
            k = sizes.pop() if sizes else 1
        return majority_filter(items, k, self.tau)


@FILTERS.register("verifier")
@dataclass(frozen=True)
class VerifierFilter:
    checks: tuple[str, ...] | None = None  # the task's check names to require; None: every one it declares

    def __post_init__(self) -> None:
        if self.checks is not None:
            object.__setattr__(self, "checks", tuple(self.checks))  # a YAML list is fine
            _check_names(self.checks)

    def apply(self, items: Sequence[Labelled], task: Task) -> tuple[list[Labelled], Stats]:
        return verifier_filter(items, task, self.checks if self.checks is not None else tuple(getattr(task, "check_names", ())))


@FILTERS.register("consistency")
@dataclass(frozen=True)
class ConsistencyFilter:
    # Extra twins per label that break the built-in twins' shared mistakes (consistency.py):
    # shifts: a + (b + e) for addition (it changes the column sums), a split of the string into
    # two shorter ones for copy and reverse (it changes the length); cuts: the sum of the top
    # digits alone for addition (a short problem, where a mistake tied to the new length is absent);
    # splits: for addition the top and the low digits' sums, two short problems that together fix
    # every digit of the label (the cut cannot see the carry from below), at as many distinct split
    # points (all a sum has when fewer: splits: 99 asks every one). plain: false leaves out
    # the task's own twins (b + a, a re-split), which have the new length and so drop right labels
    # whenever the model errs on them.
    shifts: int = 0
    cuts: int = 0
    splits: int = 0
    plain: bool = True

    def __post_init__(self) -> None:
        for name in ("shifts", "cuts", "splits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"consistency {name} must be an integer >= 0, got {value!r}")
        if not self.plain and not (self.shifts or self.cuts or self.splits):
            raise ValueError("consistency with plain: false needs shifts, cuts or splits (no twin would be asked)")

    @property
    def twins(self) -> tuple[int, int, int, bool]:
        """Its items need ``twins_agree``: the twins, ``(shifts, cuts, splits)`` extra ones among them,
        answered first, and whether the task's own twins are asked (``plain``)."""
        return self.shifts, self.cuts, self.splits, self.plain

    def apply(self, items: Sequence[Labelled], task: Task) -> tuple[list[Labelled], Stats]:
        return consistency_filter(items)


def declared_twins(spec: Filter) -> tuple[int, int, int, bool] | None:
    """One filter's ``twins`` as ``(shifts, cuts, splits, plain)``; a plain integer (a filter written
    before cut twins existed) is its shifts, a shorter tuple its first counts (the rest 0, plain
    true). None when it reads no twins."""
    twins = getattr(spec, "twins", None)
    if twins is None:
        return None
    counts = (twins,) if isinstance(twins, int) else tuple(twins)
    return counts + (0, 0, 0, True)[len(counts):]  # type: ignore[return-value]


def twin_counts(specs: Iterable[Filter]) -> tuple[int, int, int, bool] | None:
    """The ``(shifts, cuts, splits, plain)`` twins the filters need answered before they run; None
    when no filter reads twins.

    >>> twin_counts([LengthFilter(1), ConsistencyFilter(shifts=2)]), twin_counts([LengthFilter(1)])
    ((2, 0, 0, True), None)
    """
    return next((t for t in map(declared_twins, specs) if t is not None), None)


def apply_filters(
    items: Sequence[Labelled], specs: Sequence[Filter], task: Task
) -> tuple[list[Labelled], list[Stats]]:
    """Runs the filters in config order; each sees what the previous one kept.

    Sets ``dropped_by`` on every dropped item (mutating it, so the caller's full list records
    why each label went) and returns the kept items with one stats dict per filter.
    """
    kept, all_stats = list(items), []
    for spec in specs:
        survivors, stats = spec.apply(kept, task)
        alive = {id(item) for item in survivors}
        for item in kept:
            if id(item) not in alive:
                item.dropped_by = stats["name"]
        kept = survivors
        all_stats.append(stats)
    return kept, all_stats
