"""A length curriculum for round 0: D0's difficulty levels open one at a time.

Without one, every batch of round 0 mixes all of D0's lengths uniformly, and a NoPE model learns
them in order anyway, one length after another (docs/EXPERIMENTS.md F2): most of each batch is
either mastered or still out of reach. With a curriculum the batches of step ``t`` come from the
levels open at ``t`` only, and the hardest open level - the frontier - takes
``frontier_fraction`` of every batch, as the newest round does in the self-improvement rounds::

    start 2, steps_per_level 500, D0 = 1..8 digits, frontier 0.5
    steps    0-499: levels 1, 2      weights 1: 0.5, 2: 0.5
    steps 500-999: levels 1, 2, 3   weights 1: 0.25, 2: 0.25, 3: 0.5
    ...
    steps >= 3000: levels 1 .. 8    weights 1..7: 0.5 / 7 each, 8: 0.5

A level is a cell's largest axis (digits for addition, max(m, n) for an m x n multiplication), so
every cell of an open level is open.

Two paces. ``fixed``: a level opens every ``steps_per_level`` steps, a function of the step alone.
``mastery``: every ``check_every`` steps the model answers ``check_problems`` fresh problems of the
frontier level, scored with ground truth, and the next level opens once ``mastery`` of them are
right; the steps at which levels opened are saved with each checkpoint, so a resumed round 0 draws
the batches an uninterrupted one would. Both schedule D0 only: oracle-labelled data inside its own
range, in round 0, which is supervised training. Nothing self-labelled is scheduled here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from selfimprove.data import BatchPlan, TokenSet

PACES = ("fixed", "mastery")


@dataclass(frozen=True)
class Curriculum:
    start: int = 1  # levels open at step 0 (the easiest ones)
    pace: str = "fixed"  # fixed: a level every steps_per_level steps | mastery: when the frontier is learnt
    steps_per_level: int = 500  # pace fixed: one more level opens every N steps
    frontier_fraction: float = 0.5  # share of each batch from the hardest open level; the rest is uniform over levels
    mastery: float = 0.95  # pace mastery: the frontier's accuracy (ground truth, D0's range) that opens the next level
    check_every: int = 250  # pace mastery: steps between checks (a multiple of round0.train.bucket)
    check_problems: int = 64  # pace mastery: fresh problems per check

    def __post_init__(self) -> None:
        if self.start < 1 or self.steps_per_level < 1:
            raise ValueError(f"curriculum needs start >= 1 and steps_per_level >= 1, got {self.start}, {self.steps_per_level}")
        if not 0 < self.frontier_fraction <= 1:
            raise ValueError(f"curriculum.frontier_fraction must be in (0, 1], got {self.frontier_fraction}")
        if self.pace not in PACES:
            raise ValueError(f"curriculum.pace must be one of {', '.join(PACES)}, got {self.pace!r}")
        if not 0 < self.mastery <= 1 or self.check_every < 1 or self.check_problems < 1:
            raise ValueError("curriculum needs 0 < mastery <= 1, check_every >= 1 and check_problems >= 1")

    def open_levels(self, step: int, levels: int, opened: Sequence[int] = ()) -> int:
        """How many of the ``levels`` (easiest first) batches draw from at ``step``; ``opened``:
        the steps at which pace ``mastery`` opened a level after the first ``start``."""
        if self.pace == "fixed":
            return min(levels, self.start + step // self.steps_per_level)
        return min(levels, self.start + sum(s <= step for s in opened))

    def level_weights(self, step: int, levels: int, opened: Sequence[int] = ()) -> np.ndarray:
        """Probability of each level at ``step``: zero for closed ones."""
        k = self.open_levels(step, levels, opened)
        weights = np.zeros(levels)
        if k == 1:
            weights[0] = 1.0
            return weights
        weights[: k - 1] = (1 - self.frontier_fraction) / (k - 1)
        weights[k - 1] = self.frontier_fraction
        return weights


def level_of(difficulty) -> int:
    """A cell's curriculum level: its largest axis."""
    return difficulty if isinstance(difficulty, int) else max(difficulty)


def split_by_level(d0: TokenSet, difficulties: Sequence) -> list[TokenSet]:
    """D0 as one TokenSet per level, easiest first (``difficulties`` holds each row's cell)."""
    row_levels = np.array([level_of(d) for d in difficulties])
    parts = []
    for level in np.unique(row_levels):
        rows = np.flatnonzero(row_levels == level)
        parts.append(TokenSet(d0.tokens[rows], d0.lengths[rows], d0.prompt_lengths[rows], 1))
    return parts


@dataclass
class CurriculumBatches:
    """``step -> (x, y)`` for round 0 under a curriculum, with the state a checkpoint keeps.

    ``frontier_accuracy(i)``: the model's accuracy now on fresh problems of level ``i`` (pace
    mastery only; it is asked at steps ``check_every``, ``2 * check_every`` ... before that step's
    batch is drawn, so with the weights after exactly that many updates).
    """

    curriculum: Curriculum
    levels: list[TokenSet]  # D0 split by level, easiest first
    plan: BatchPlan
    pad_id: int
    frontier_accuracy: Callable[[int], float] | None = None
    opened: list[int] = field(default_factory=list)  # steps at which a level opened (pace mastery)
    checks: list[dict] = field(default_factory=list)  # what each check saw (for the log)

    def __call__(self, step: int):
        c = self.curriculum
        if c.pace == "mastery" and step > 0 and step % c.check_every == 0 and step > self._last_check():
            frontier = c.open_levels(step, len(self.levels), self.opened) - 1
            if frontier + 1 < len(self.levels):
                accuracy = self.frontier_accuracy(frontier)
                self.checks.append({"step": step, "level": frontier, "accuracy": accuracy})
                if accuracy >= c.mastery:
                    self.opened.append(step)
        weights = lambda s: c.level_weights(s, len(self.levels), self.opened)
        return self.plan.batch(self.levels, step, self.pad_id, weights)

    def _last_check(self) -> int:
        return self.checks[-1]["step"] if self.checks else -1

    def state(self) -> dict:
        """What a checkpoint saves: the opening steps (pace mastery; empty for fixed)."""
        return {"opened": list(self.opened)}

    def restore(self, state: dict | None) -> None:
        self.opened = list((state or {}).get("opened", []))
