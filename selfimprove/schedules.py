"""Which difficulties each self-improvement round samples.

A schedule is a small frozen dataclass with one method::

    plan(round, trained, probe) -> list[Difficulty]

``round`` is the round being planned (>= 1), ``trained`` every difficulty trained on so far (round
0's range included), ``probe(d)`` an accuracy (or agreement rate) of the current model(s) at ``d``;
only the accelerated schedules call it. Plans depend on ``trained`` alone, not on the round
number (``Listed``, a fixed table, reads the round number), so a resumed run re-plans exactly
what it planned before (and ``plan.json`` stores every plan anyway).

    Increment()                      trained 1..16              -> [17]
    Increment(step=1, axis=0)        maze (1..9 hops, 30 nodes) -> [(10, 30)]
    Increment(step=3, axis=1)        (9, 10..30)                -> [(9, 31), (9, 32), (9, 33)]
    Accelerated()                    1..16, probe >= .99 to 30  -> [17, 18, ..., 30]
    MultiplicationGrid()             all a, b <= 5              -> [(1, 6), (6, 1)], then m = 2 ...
    Listed(rounds=[[(1, 6), (6, 1)], ...])   round 1               -> [(1, 6), (6, 1)] (a table, e.g. Fig. 20)

``schedule_from_config({"kind": "increment", "step": 1})`` builds one from a config mapping
(``SCHEDULES``, a ``registry.Registry``). What a schedule needs from the run it declares, and the
generic code asks for that, never for a kind: ``probe_by`` (class attribute: ``ACCURACY``, the
paper's ground-truth probe, or ``AGREEMENT``, the label-free one; absent: no probe), ``axes``
(class attribute: the number of difficulty axes it plans on), ``axis`` (the axis it extends),
``rounds`` (a fixed table of every round's difficulties) and ``threshold`` (the probe's pass
mark, recorded in probe.json). A new schedule is one class and its ``@SCHEDULES.register`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from selfimprove.registry import Registry
from selfimprove.tasks.base import Difficulty

Probe = Callable[[Difficulty], float]
Cell = tuple[int, int]

# A probe that never fails must not loop far: a broken probe returning 1.0, or - for the
# label-free probe - a degenerate model that answers every twin identically (all zeros passes
# b+a and the re-split). 64 new difficulties in one round is beyond any run we know of.
PROBE_GUARD = 64

# What a schedule's probe measures (probe.json's "kind"): the models' exact-match accuracy
# (ground truth, the paper's accelerated schedules) or their agreement (label-free).
ACCURACY, AGREEMENT = "accuracy", "agreement"


class Schedule(Protocol):
    """``plan`` picks a round's difficulties; the optional attributes above say what it needs."""

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]: ...


SCHEDULES = Registry("schedule", example="{kind: increment}")


def _check(round: int, trained: list[Difficulty]) -> None:
    if round < 1:
        raise ValueError(f"a schedule plans rounds >= 1 (round 0 is labelled), got {round}")
    if not trained:
        raise ValueError("trained is empty: a schedule extends round 0's range")


def _top(trained: list[Difficulty], axis: int) -> Difficulty:
    """The trained difficulty that is largest along ``axis`` (ties: the largest tuple)."""
    if isinstance(trained[0], int):
        if axis != 0:
            raise ValueError(f"integer difficulties have one axis, got axis={axis}")
        return max(trained)  # type: ignore[type-var]
    return max(trained, key=lambda d: (d[axis], d))  # type: ignore[index]


def _shift(top: Difficulty, axis: int, k: int) -> Difficulty:
    """``top`` moved ``k`` steps up along ``axis``, the other axes unchanged."""
    if isinstance(top, int):
        return top + k
    return top[:axis] + (top[axis] + k,) + top[axis + 1 :]


@SCHEDULES.register("increment")
@dataclass(frozen=True)
class Increment:
    """The next ``step`` difficulties above the trained maximum along ``axis`` (paper §3).

    With ``only_last`` only the ``step``-th one is sampled. The paper's maze-nodes run "increases
    the number of nodes by 3 per round" (B.3.1) and the authors' code labels every count in
    between (31, 32 and 33), as the maze-nodes presets do; ``only_last=True`` samples only the
    new top count (30 -> 33 -> 36).

    >>> Increment().plan(1, list(range(1, 17)), None)
    [17]
    >>> Increment(step=3, axis=1).plan(1, [(9, 30)], None)
    [(9, 31), (9, 32), (9, 33)]
    >>> Increment(step=3, axis=1, only_last=True).plan(1, [(9, 30)], None)
    [(9, 33)]
    """

    step: int = 1
    axis: int = 0
    only_last: bool = False

    def __post_init__(self) -> None:
        if self.step < 1 or self.axis < 0:
            raise ValueError(f"increment needs step >= 1, axis >= 0: {self.step}, {self.axis}")

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]:
        _check(round, trained)
        top = _top(trained, self.axis)
        ks = [self.step] if self.only_last else range(1, self.step + 1)
        return [_shift(top, self.axis, k) for k in ks]


def _check_options(threshold: float, max_new: int | None, axis: int) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if max_new is not None and max_new < 1:
        raise ValueError(f"max_new must be >= 1 or None, got {max_new}")
    if axis < 0:
        raise ValueError(f"axis must be >= 0, got {axis}")


def _probe_upward(trained: list[Difficulty], axis: int, threshold: float, max_new: int | None,
                  probe: Probe | None, who: str, wait: bool = False,
                  first_threshold: float | None = None) -> list[Difficulty]:
    """First untrained difficulty d, then d+1, ... while ``probe >= threshold`` (d itself needs
    only ``first_threshold`` when one is given).

    When even d fails: ``[d]`` (never stall), or with ``wait`` nothing — the round then trains
    on the data it already has and probes again next round."""
    if probe is None:
        raise ValueError(f"the {who} schedule needs a probe")
    top = _top(trained, axis)
    limit = PROBE_GUARD if max_new is None else max_new
    passing = []
    for k in range(1, limit + 1):
        d = _shift(top, axis, k)
        bar = first_threshold if k == 1 and first_threshold is not None else threshold
        if probe(d) < bar:
            break
        passing.append(d)
    # Never stall: when even the next difficulty fails we still take it, as Increment would.
    return passing or ([] if wait else [_shift(top, axis, 1)])


@SCHEDULES.register("accelerated")
@dataclass(frozen=True)
class Accelerated:
    """Sample every difficulty the model already solves, starting above the trained range (§7.2).

    The paper samples "all difficulty levels achieving over 99% evaluation accuracy"; the
    authors' code probes L = start, start+1, ... (2048 prompts each) while accuracy >= 0.99. Both
    are this loop, with ``start`` = the first untrained difficulty. A round that finds nothing
    passing samples ``start`` alone, so it is never slower than ``Increment``. ``max_new`` caps
    how many difficulties one round adds (None: up to ``PROBE_GUARD``).

    >>> Accelerated().plan(1, list(range(1, 17)), lambda d: 1.0 if d <= 20 else 0.3)
    [17, 18, 19, 20]
    >>> Accelerated().plan(1, list(range(1, 17)), lambda d: 0.0)
    [17]
    """

    probe_by: ClassVar[str] = ACCURACY

    threshold: float = 0.99
    max_new: int | None = None
    axis: int = 0

    def __post_init__(self) -> None:
        _check_options(self.threshold, self.max_new, self.axis)

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]:
        _check(round, trained)
        return _probe_upward(trained, self.axis, self.threshold, self.max_new, probe, "accelerated")


@SCHEDULES.register("label_free_accelerated")
@dataclass(frozen=True)
class LabelFreeAccelerated:
    """``Accelerated`` whose probe needs no ground truth (beyond the paper).

    ``probe(d)`` is the agreement rate of the k voting models (or of consistency twins) on fresh
    unlabelled problems of difficulty ``d``. Same mechanics as ``Accelerated``; a separate class
    so configs and reports say which signal chose the difficulties.

    ``wait``: when not even the next difficulty passes, sample nothing new this round (the model
    consolidates on the data it has) instead of labelling problems it is likely to get wrong.
    ``first_threshold``: a lower bar for the first untrained difficulty alone. The filter keeps
    only the labels whose twins agree, so a weak frontier still gives clean labels, just fewer;
    waiting instead can last forever when consolidation does not lift the frontier (an fp32 demo
    waited 7 rounds at 9-digit agreement 0.22-0.80 under a 0.85 gate). Further difficulties
    still need ``threshold``.
    ``refresh`` (with ``wait``): a waiting round labels fresh problems at the longest trained
    difficulty instead of none, so consolidation sees new problems rather than the same ones.
    Self-labelled errors at a new length are correlated, so a filter passes many of them when
    the model is weak there; not labelling them at all is the one label-free defence left.

    >>> LabelFreeAccelerated(threshold=0.9, wait=True).plan(1, [1, 2, 3], lambda d: 0.5)
    []
    >>> LabelFreeAccelerated(threshold=0.9, wait=True, refresh=True).plan(1, [1, 2, 3], lambda d: 0.5)
    [3]
    """

    probe_by: ClassVar[str] = AGREEMENT

    threshold: float = 0.98
    max_new: int | None = None
    axis: int = 0
    wait: bool = False
    refresh: bool = False
    first_threshold: float | None = None

    def __post_init__(self) -> None:
        _check_options(self.threshold, self.max_new, self.axis)
        if self.first_threshold is not None and not 0.0 <= self.first_threshold <= 1.0:
            raise ValueError(f"first_threshold must be in [0, 1], got {self.first_threshold}")
        if self.refresh and not self.wait:
            raise ValueError("refresh only applies to waiting rounds: set wait: true as well")

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]:
        _check(round, trained)
        who = "label-free accelerated"
        new = _probe_upward(trained, self.axis, self.threshold, self.max_new, probe, who, self.wait,
                            self.first_threshold)
        # A waiting round otherwise re-reads the same self-labelled problems every round; fresh
        # ones at the frontier (where the probe already passed) give it new data to learn from.
        return new or ([_top(trained, self.axis)] if self.refresh else [])


def _cells(trained: list[Difficulty]) -> set[Cell]:
    if not all(isinstance(d, tuple) and len(d) == 2 for d in trained):
        raise ValueError("multiplication schedules need (digits_a, digits_b) difficulties")
    return set(trained)  # type: ignore[arg-type]


def _square(done: set[Cell]) -> int:
    """The largest n with every a x b, a, b <= n, trained."""
    n = 0
    while all((n + 1, m) in done and (m, n + 1) in done for m in range(1, n + 2)):
        n += 1
    return n


@SCHEDULES.register("multiplication_grid")
@dataclass(frozen=True)
class MultiplicationGrid:
    """From a trained n x n square, (n+1) x m and m x (n+1) for m = 1 .. n+1, one m a round (§6.2).

    Round 1 after 5x5 adds [(1, 6), (6, 1)], round 5 [(5, 6), (6, 5)], round 6 [(6, 6)], round 7
    [(1, 7), (7, 1)], ... and round 40 [(10, 10)]: from 5x5 to 10x10 is 6+7+8+9+10 = 40 rounds.
    The paper says 41 (B.4); it numbers the base model as round 1 (C.3.2: D_r comes from M_r and
    trains M_{r+1}), which is also why its "round 7" (Fig. 7, 17) has trained up to 6x6. So rounds
    0..40 here are the paper's 41 rounds. Each list holds the not-yet-trained cells of the round.
    """

    axes: ClassVar[int] = 2

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]:
        _check(round, trained)
        return list(_next_grid_cells(_cells(trained)))


def _next_grid_cells(done: set[Cell]) -> list[Cell]:
    n = _square(done)
    for m in range(1, n + 2):
        missing = sorted({(m, n + 1), (n + 1, m)} - done)
        if missing:
            return missing
    raise AssertionError("unreachable: _square would have grown")  # pragma: no cover


def _frontier(done: set[Cell]) -> list[Cell]:
    """Untrained cells whose lower neighbours (a-1, b) and (a, b-1) are trained or have a 0."""

    def ok(a: int, b: int) -> bool:
        return a == 0 or b == 0 or (a, b) in done

    candidates = {(a + 1, b) for a, b in done} | {(a, b + 1) for a, b in done} | {(1, 1)}
    return sorted(c for c in candidates - done if ok(c[0] - 1, c[1]) and ok(c[0], c[1] - 1))


@SCHEDULES.register("accelerated_grid")
@dataclass(frozen=True)
class AcceleratedGrid:
    """Accelerated multiplication (paper Fig. 20): grow the trained staircase while probes pass.

    Each round takes every frontier cell with ``probe >= threshold`` and repeats with the grown
    region (as ``Accelerated`` probes d, d+1, ... in one dimension), then adds the next cells of
    ``MultiplicationGrid`` so a round never stalls.

    >>> square = [(a, b) for a in range(1, 6) for b in range(1, 6)]
    >>> AcceleratedGrid().plan(1, square, lambda c: 1.0 if max(c) <= 6 and min(c) <= 2 else 0.0)
    [(1, 6), (2, 6), (6, 1), (6, 2)]
    """

    probe_by: ClassVar[str] = ACCURACY
    axes: ClassVar[int] = 2

    threshold: float = 0.99
    max_new: int | None = None

    def __post_init__(self) -> None:
        _check_options(self.threshold, self.max_new, 0)

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]:
        _check(round, trained)
        if probe is None:
            raise ValueError("the accelerated_grid schedule needs a probe")
        done = _cells(trained)
        region, new, failed = set(done), set(), set()
        limit = PROBE_GUARD if self.max_new is None else self.max_new
        while len(new) < limit:
            todo = [c for c in _frontier(region) if c not in failed][: limit - len(new)]
            passing = [c for c in todo if probe(c) >= self.threshold]
            failed.update(set(todo) - set(passing))  # probe each cell once per round
            if not passing:
                break
            region.update(passing)
            new.update(passing)
        new.update(_next_grid_cells(done))
        return sorted(new)


@SCHEDULES.register("listed")
@dataclass(frozen=True)
class Listed:
    """A fixed table: round r samples ``rounds[r - 1]`` (paper B.4, Fig. 20: the round in which
    each a x b cell is first trained). No probe; a round past the table's end is a config error
    (the loader checks ``rounds.count``). Cells already trained are sampled again if listed.

    >>> Listed(rounds=[[(1, 6), (6, 1)], [(2, 6)]]).plan(2, [(1, 1)], None)
    [(2, 6)]
    """

    rounds: tuple = ()

    def __post_init__(self) -> None:
        table = tuple(tuple(_difficulty(d) for d in row) for row in self.rounds)
        if not table or any(not row for row in table):
            raise ValueError("listed needs rounds: a non-empty list of difficulties for every round")
        object.__setattr__(self, "rounds", table)  # YAML lists -> tuples (difficulties)

    def plan(
        self, round: int, trained: list[Difficulty], probe: Probe | None = None
    ) -> list[Difficulty]:
        _check(round, trained)
        if round > len(self.rounds):
            raise ValueError(f"the listed schedule has {len(self.rounds)} rounds, round {round} asked for")
        return list(self.rounds[round - 1])


def _difficulty(value: Any) -> Difficulty:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ValueError(f"listed: {value!r} is not a difficulty (an integer or a list of integers)")


def schedule_from_config(config: dict[str, Any]) -> Schedule:
    """``{"kind": "accelerated", "threshold": 0.99}`` -> ``Accelerated(threshold=0.99)``."""
    return SCHEDULES.parse(config)


def default_schedule() -> Schedule:
    """``rounds.schedule`` when a config names none: the paper's +1 per round."""
    return SCHEDULES.parse({"kind": "increment"})
