"""Round 0 in warmup-stable-decay cycles until D0 is mastered.

A small NoPE model learns reverse addition in a sudden "click" whose step is a draw over the
training noise: the same initial weights click or not with the batch order alone, and a run that
has not clicked by the end of its decay ends stuck at two or three digits (docs/EXPERIMENTS.md,
S2, I2). A cycle gives such a run another draw on the same weights and optimizer: the learning rate
warms up to round 0's peak again, stays there, and decays again::

    round0.train: steps 10000, decay 5000      cycles: steps 5000, warmup 200, decay 2000
    steps     0 – 9,999   round 0's own schedule          check D0 at 10,000: mastered? stop
    steps 10,000 – 14,999  cycle 1: warm-up, constant, decay   check at 15,000: mastered? stop
    steps 15,000 – 19,999  cycle 2 (the last one when max = 2)

At the end of round 0's schedule and of every cycle the model answers ``check_problems`` fresh
problems of every level of D0, scored with ground truth, and round 0 ends once every level is at
``mastery`` or more (or ``max`` cycles have run). Like the curriculum's mastery pace this uses the
oracle inside D0's own range, in round 0, which is supervised training: it decides how long D0 is
trained on and never touches self-labelled data. Batches are the same function of the step as
without cycles, so a run that masters D0 in its first schedule is unchanged by ``cycles``.

The checks are written to ``round_000/cycles.json`` (``<prefix>cycles.json`` per model with k > 1)
and read back on resume, so a run killed at any moment decides as an uninterrupted one did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from selfimprove.train import TrainConfig


@dataclass(frozen=True)
class Cycles:
    max: int = 2  # extra cycles after round 0's own schedule, at most
    steps: int = 5000  # steps of one cycle (warm-up + constant + decay)
    warmup_steps: int = 200  # linear warm-up back to round0.train.lr
    decay_steps: int = 2000  # the cycle's last steps, decaying as round0.train decays
    mastery: float = 0.99  # every level of D0 at least this right (fresh problems, ground truth) ends round 0
    check_problems: int = 256  # fresh problems per level of D0 at each check

    def __post_init__(self) -> None:
        if self.max < 1 or self.steps < 1 or self.check_problems < 1:
            raise ValueError(f"cycles needs max, steps and check_problems >= 1, got {self.max}, {self.steps}, "
                             f"{self.check_problems}")
        if self.warmup_steps < 0 or self.decay_steps < 0 or self.warmup_steps + self.decay_steps > self.steps:
            raise ValueError(f"cycles.warmup_steps + cycles.decay_steps ({self.warmup_steps} + {self.decay_steps}) "
                             f"must fit in cycles.steps ({self.steps})")
        if not 0 < self.mastery <= 1:
            raise ValueError(f"cycles.mastery must be in (0, 1], got {self.mastery}")


@dataclass(frozen=True)
class Cycle:
    """Steps ``offset`` … ``end - 1`` of round 0, trained with ``train``'s learning-rate schedule
    counted from ``offset``. Cycle 0 is round0.train itself."""

    index: int
    offset: int
    train: TrainConfig

    @property
    def end(self) -> int:
        return self.offset + self.train.steps


def round0_cycles(train: TrainConfig, cycles: Cycles | None) -> list[Cycle]:
    """Round 0's own schedule, then every cycle it may run (the checks decide how many do)."""
    out = [Cycle(0, 0, train)]
    if cycles is None:
        return out
    again = replace(train, steps=cycles.steps, warmup_steps=cycles.warmup_steps, decay_steps=cycles.decay_steps)
    for c in range(1, cycles.max + 1):
        out.append(Cycle(c, out[-1].end, again))
    return out


def mastered(accuracy: dict[str, float], cycles: Cycles) -> bool:
    """Every level of D0 at ``cycles.mastery`` or more."""
    return min(accuracy.values()) >= cycles.mastery
