"""Round 0's prelude: D0's shortest lengths first, on small batches, until the model "clicks".

A small NoPE model learns reverse addition in a sudden click (the alignment that makes every
length come at once) whose step is a draw over the training noise; trained on all of 1-8 digits
at batch 128 it comes anywhere between 6,000 and 10,000+ steps, or not at all (docs/EXPERIMENTS.md
B-, G-, H-series). On 1-4 digits at batch 32 a click is cheaper (~2.7 min for 7,200 steps on 2
cores), and a model that has clicked learns the longer lengths of D0 in 2,000 steps more. The
prelude is that first stage::

    round0: {low: 1, high: 8, prelude: {high: 4, steps: 7200, batch_size: 32, lr: 0.003, decay_steps: 3600},
             train: {steps: 2000, lr: 0.001, ...}}
    prelude   steps 0 - 7,199 on D0's own recipe limited to 1-4 digits (fresh oracle problems
              drawn as D0 is), its own optimizer and learning-rate schedule; with round0.cycles,
              more cycles until a check finds 1-4 mastered
    round 0   round0.train's schedule on all of D0, from the prelude's weights with a fresh optimizer

It moves the lottery rather than removing it: on the demo's model seeds 0 and 1 clicked in the
prelude's first 7,200 steps and seeds 2 and 3 only in its second extra cycle (by 17,200 steps; round 0
in 6-11 min instead of 15-23), but seed 4, whose 10,000-step round 0 clicks, did not click in 17,200 prelude steps
(EXPERIMENTS R1, Y1); the demo does not use it. Three draws side by side (``candidates: 3``,
candidates.py) did not make the click sure either: none of six draws on seeds 2 and 4 clicked by
7,200 steps (EXPERIMENTS C1).

Everything not named here (weight decay, betas, bucket, precision, checkpoints) is round0.train's.
The prelude trains on oracle labels inside D0's range, in round 0, which is supervised training:
nothing self-labelled is ever scheduled here. Its checkpoints live in ``round_000/prelude/``, so a
run killed during it resumes there and ends as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from selfimprove.tasks.base import Difficulty
from selfimprove.train import TrainConfig


@dataclass(frozen=True)
class Prelude:
    high: Difficulty  # the hardest difficulty the prelude trains on: D0's range cut at this level
    steps: int = 7200
    batch_size: int = 32
    lr: float | None = None  # peak learning rate; null = round0.train.lr
    warmup_steps: int = 200
    decay_steps: int = 3600
    # k > 1: k draws (initial weights and batch order) trained side by side as one stacked model, the
    # first whose check masters the prelude's range going on to round 0 (candidates.py); needs round0.cycles
    candidates: int = 1

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.candidates < 1 or (self.lr is not None and self.lr <= 0):
            raise ValueError(f"prelude needs steps, batch_size, candidates >= 1 and lr > 0, got {self.steps}, "
                             f"{self.batch_size}, {self.candidates}, {self.lr}")
        if self.warmup_steps < 0 or self.decay_steps < 0 or self.warmup_steps + self.decay_steps > self.steps:
            raise ValueError(f"prelude.warmup_steps + prelude.decay_steps ({self.warmup_steps} + {self.decay_steps}) "
                             f"must fit in prelude.steps ({self.steps})")

    def train(self, round0: TrainConfig) -> TrainConfig:
        """The prelude's training settings: its own steps, batch and schedule, the rest round 0's."""
        return replace(round0, steps=self.steps, batch_size=self.batch_size, lr=self.lr or round0.lr,
                       warmup_steps=self.warmup_steps, decay_steps=self.decay_steps)
