"""Label noise injected into a round's kept self-labels, to measure how much a run tolerates
(paper B.6.2, Fig 25) and what random labels do (B.7, Fig 28).

Only answers are corrupted, never prompts (the authors' code corrupted prompts too, which also
changes the problem). Noise acts on the digits of a label and leaves its other characters (the
``+``, ``(``, ``=`` of a chain of thought) where they are. "The last three digits" are the last
three digit characters written, so in reversed addition the most significant ones::

    uniform       every digit replaced by a random digit (a random number of the same length)
    perturb       each of the last three digits moved by +1 or -1 (mod 10)
    drop_digits   1-3 of the last three digits removed (the answer gets shorter)
    drop_perturb  perturb, then drop
    random        random_labels: the whole label replaced, as uniform, with probability p

Config (parsed into ``LabelNoise`` and ``RandomLabels`` when the config loads, so a bad kind, a
``p`` outside [0, 1] or a round that is not an integer >= 1 is a one-line ``ConfigError``)::

    rounds:
      noise: {kind: perturb, p: 0.1, at: [2, 5]}   # rounds whose kept labels get noise
      random_labels: {p: 0.5, at: [3]}             # empty ``at``: every round

Each corrupted row of ``labels.jsonl`` is marked ``"noise": KIND`` and keeps its clean label in
``"clean_label"``; ``correct`` is then the corrupted label's verdict. The draws come from their own
seed stream (``noise/<seed>/<round>``), so a rerun injects the same noise into the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

KINDS = ("uniform", "perturb", "drop_digits", "drop_perturb")


def _check(p: float, at: tuple[int, ...]) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a number in [0, 1], got {p!r}")
    if any(r < 1 for r in at):
        raise ValueError(f"at must be a list of round numbers >= 1, got {list(at)}")


@dataclass(frozen=True)
class LabelNoise:
    """``rounds.noise``: each kept label of the rounds ``at`` corrupted with probability ``p``."""

    kind: str  # one of KINDS
    p: float  # probability that a kept label is corrupted
    at: tuple[int, ...] = ()  # rounds that get noise; empty: every round

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        _check(self.p, self.at)


@dataclass(frozen=True)
class RandomLabels:
    """``rounds.random_labels``: each kept label of the rounds ``at`` replaced by a random one of
    the same length with probability ``p`` (paper B.7)."""

    kind: ClassVar[str] = "random"  # what labels.jsonl marks the rows with; not a config key

    p: float
    at: tuple[int, ...] = ()  # rounds that get random labels; empty: every round

    def __post_init__(self) -> None:
        _check(self.p, self.at)


NoiseSpec = LabelNoise | RandomLabels


def applies(spec: NoiseSpec, round_: int) -> bool:
    """Whether ``spec`` corrupts round ``round_``'s labels (never round 0's: oracle labels)."""
    return round_ > 0 and (not spec.at or round_ in spec.at)


def _digit_positions(label: str) -> list[int]:
    return [i for i, ch in enumerate(label) if ch.isdigit()]


def uniform(label: str, rng: random.Random) -> str:
    return "".join(str(rng.randrange(10)) if ch.isdigit() else ch for ch in label)


def perturb(label: str, rng: random.Random) -> str:
    chars = list(label)
    for i in _digit_positions(label)[-3:]:
        chars[i] = str((int(chars[i]) + rng.choice((-1, 1))) % 10)
    return "".join(chars)


def drop_digits(label: str, rng: random.Random) -> str:
    last = _digit_positions(label)[-3:]
    if not last:
        return label
    dropped = set(rng.sample(last, rng.randint(1, len(last))))
    return "".join(ch for i, ch in enumerate(label) if i not in dropped)


def drop_perturb(label: str, rng: random.Random) -> str:
    return drop_digits(perturb(label, rng), rng)


CORRUPT: dict[str, Callable[[str, random.Random], str]] = {
    "uniform": uniform, "perturb": perturb, "drop_digits": drop_digits, "drop_perturb": drop_perturb,
    "random": uniform,
}


def inject(rows: list[dict], specs: Sequence[NoiseSpec | None], seed: int, round_: int) -> list[dict]:
    """``rows`` (labels.jsonl records) with the kept labels corrupted by each applicable spec.

    A row is drawn once per spec, in order; a row already corrupted is not corrupted again, so the
    share of marked rows estimates ``p`` (the test recovers it). Dropped rows never train, so they
    are left alone. The caller re-scores ``correct`` (ground truth, diagnostic only).
    """
    rng = random.Random(f"noise/{seed}/{round_}")
    out = [dict(row) for row in rows]
    for spec in specs:
        if spec is None or not applies(spec, round_):
            continue
        for row in out:
            hit = rng.random() < spec.p
            if hit and row["kept"] and "noise" not in row:
                row["clean_label"], row["label"], row["noise"] = row["label"], CORRUPT[spec.kind](row["label"], rng), spec.kind
    return out
