"""Every training step's loss, kept on disk: ``round_XXX/losses.jsonl``.

One JSON line per checkpoint window and model, ``{"model": m, "step": s, "losses": [...]}``: the
losses of steps ``s, s + 1, …`` (the round's own step count; round 0's extra cycles continue it).
A window is appended just *before* its checkpoint is saved, and every (re)start of training at step
``s`` first drops the model's lines from ``s`` on. So a run killed between the two, or in the middle
of a line, rewrites that window on resume and the file ends as an uninterrupted run's (the steps
after the last checkpoint are trained again on the same batches and give the same losses).

Why it exists: a round's loss spikes (a model that fits its own labels to 0.01 and is at 0.5-3 a few
steps later, docs/EXPERIMENTS.md X2) could only be read out of tqdm's progress lines before.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from selfimprove.io import atomic_write_text, read_jsonl

DIGITS = 5  # significant digits kept: spikes and plateaus, not float noise


def _row(model: int, step: int, losses: Iterable[float]) -> str:
    return json.dumps({"model": model, "step": step, "losses": [float(f"{v:.{DIGITS}g}") for v in losses]}) + "\n"


@dataclass(frozen=True)
class LossLog:
    """Model ``model``'s losses in ``path``; ``enabled=False`` (a torchrun rank other than 0) writes nothing."""

    path: Path
    model: int = 0
    enabled: bool = True

    def restart(self, step: int) -> None:
        """Training of this model (re)starts at ``step``: drop its lines from there on (a killed attempt's)."""
        if not self.enabled or not self.path.exists():
            return
        rows = read_jsonl(self.path)  # a torn last line (killed mid-append) is skipped, so it goes too
        kept = [r for r in rows if not (r.get("model") == self.model and r.get("step", 0) >= step)]
        if len(kept) != len(rows) or self.path.read_bytes()[-1:] not in (b"", b"\n"):
            atomic_write_text(self.path, "".join(_row(r["model"], r["step"], r["losses"]) for r in kept))

    def append(self, step: int, losses: Sequence[float]) -> None:
        """The losses of steps ``step, step + 1, …`` (one checkpoint window)."""
        if not self.enabled or not losses:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(_row(self.model, step, losses))


def read_losses(path: Path) -> dict[int, list[tuple[int, float]]]:
    """``losses.jsonl`` -> each model's (step, loss) pairs in step order (a later line for a step wins)."""
    per_model: dict[int, dict[int, float]] = defaultdict(dict)
    for row in read_jsonl(path):
        if isinstance(row, dict) and "losses" in row:
            for i, value in enumerate(row["losses"]):
                per_model[int(row.get("model", 0))][int(row["step"]) + i] = float(value)
    return {m: sorted(steps.items()) for m, steps in sorted(per_model.items())}
