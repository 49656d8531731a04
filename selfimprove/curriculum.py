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
every cell of an open level is open. The schedule is a fixed function of the step: no evaluation
decides it, and D0 holds only oracle labels, so nothing self-labelled is scheduled here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selfimprove.data import TokenSet


@dataclass(frozen=True)
class Curriculum:
    start: int = 1  # levels open at step 0 (the easiest ones)
    steps_per_level: int = 500  # one more level opens every N steps
    frontier_fraction: float = 0.5  # share of each batch from the hardest open level; the rest is uniform over levels

    def __post_init__(self) -> None:
        if self.start < 1 or self.steps_per_level < 1:
            raise ValueError(f"curriculum needs start >= 1 and steps_per_level >= 1, got {self.start}, {self.steps_per_level}")
        if not 0 < self.frontier_fraction <= 1:
            raise ValueError(f"curriculum.frontier_fraction must be in (0, 1], got {self.frontier_fraction}")

    def open_levels(self, step: int, levels: int) -> int:
        """How many of the ``levels`` (easiest first) batches draw from at ``step``."""
        return min(levels, self.start + step // self.steps_per_level)

    def level_weights(self, step: int, levels: int) -> np.ndarray:
        """Probability of each level at ``step``: zero for closed ones."""
        k = self.open_levels(step, levels)
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


def curriculum_weights(curriculum: Curriculum, parts: Sequence[TokenSet]):
    """``step -> weights over parts``, the mixture a ``BatchPlan`` draws round 0's batch from."""
    return lambda step: curriculum.level_weights(step, len(parts))
