"""Where every file of a run lives: the run directory as one object (``docs/RUN_DIR.md``).

Everything that writes or reads a run directory asks a ``RunDir`` for the path instead of
building it: round folders, a model's checkpoint prefix, the markers and records of a round, the
run's metrics. No torch here, so the report reads a copied folder on a laptop::

    >>> run = RunDir(Path("runs/demo"), k=2)
    >>> str(run.round(3)), run.prefix(1), str(run.eval(3))
    ('runs/demo/round_003', 'm1_', 'runs/demo/round_003/eval.json')
    >>> RunDir.index_of("round_012"), RunDir.index_of("round_12"), RunDir.index_of("plots")
    (12, None, None)

``write`` and ``exists`` are how this object touches the files. The defaults are plain atomic
writes and ``Path.exists``; the round loop passes rank-0-only writes and rank 0's view of the
file system under torchrun (``distributed.shared``), so every rank takes the same branch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.io import atomic_write_text, read_jsonl

_ROUND = "round_{:03d}"
_ROUND_NAME = re.compile(r"^round_(\d+)$")


class _File:
    """A file (or folder) of the run: ``files.config`` is ``files.path / "config.yaml"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, files: RunDir, owner: type) -> Path:
        return files.path / self.name


class _RoundFile(_File):
    """A file of every round: ``files.eval(3)`` is ``files.round(3) / "eval.json"``."""

    def __get__(self, files: RunDir, owner: type) -> Callable[[int], Path]:
        return lambda r: files.round(r) / self.name


@dataclass(frozen=True)
class RunDir:
    path: Path
    k: int = 1  # models per round; with k > 1 model m's checkpoint is m<m>_checkpoint/
    write: Callable[[Path, str], None] = atomic_write_text
    exists: Callable[[Path], bool] = Path.exists

    config = _File("config.yaml")
    runtime = _File("runtime.json")
    metrics = _File("metrics.jsonl")
    base = _File("BASE")  # written by --base: the run whose round 0 this one copied
    report = _File("report.md")
    plots = _File("plots")
    analysis = _File("analysis")  # selfimprove analyze: <instrument>.json and .png
    lock = _File(".lock")  # flock'ed by the process running the run (io.run_dir_lock)
    done = _RoundFile("DONE")  # written last: a round without it is resumed
    eval = _RoundFile("eval.json")
    labels = _RoundFile("labels.jsonl")
    filter_stats = _RoundFile("filter_stats.json")
    plan = _RoundFile("plan.json")
    probe = _RoundFile("probe.json")
    losses = _RoundFile("losses.jsonl")  # every training step's loss (loss_log.py)

    @property
    def base_eval(self) -> Path:
        """Round 0's scores in the --base run it was copied from, kept when this run scores it anew
        on a different eval grid (resume.fork_base)."""
        return self.round(0) / "base_eval.json"

    @classmethod
    def of(cls, path: Path | str, cfg: Any, **io: Callable) -> RunDir:
        """The run directory of config ``cfg`` (which fixes k) at ``path``."""
        return cls(Path(path), cfg.rounds.k, **io)

    def plot(self, name: str) -> Path:
        return self.plots / name

    def round(self, r: int) -> Path:
        return self.path / _ROUND.format(r)

    @staticmethod
    def index_of(name: str) -> int | None:
        """``"round_012"`` -> 12; any other name (``round_12``, ``plots``) -> None."""
        match = _ROUND_NAME.match(name)
        return int(match.group(1)) if match and name == _ROUND.format(int(match.group(1))) else None

    def rounds(self) -> list[int]:
        """Every round with a folder, sorted."""
        if not self.path.is_dir():
            return []
        return sorted(r for sub in self.path.iterdir() if (r := self.index_of(sub.name)) is not None and sub.is_dir())

    def rounds_with(self, name: str) -> list[int]:
        """The rounds whose folder holds file ``name`` (e.g. ``DONE``, ``labels.jsonl``), sorted."""
        return [r for r in self.rounds() if (self.round(r) / name).exists()]

    def finished(self) -> list[int]:
        return self.rounds_with(self.done(0).name)

    def prefix(self, m: int) -> str:
        """Model m's file prefix in a round folder: none for a single model."""
        return "" if self.k == 1 else f"m{m}_"

    def cycles(self, m: int) -> Path:
        """Model m's round-0 mastery checks (``round0.cycles``, cycles.py)."""
        return self.round(0) / f"{self.prefix(m)}cycles.json"

    @property
    def prelude(self) -> Path:
        """The folder of round 0's prelude checkpoints (``round0.prelude``, prelude.py), one per model."""
        return self.round(0) / "prelude"

    # --- records ---------------------------------------------------------------------------

    def write_json(self, path: Path, record: Any, indent: int | None = None) -> None:
        self.write(path, json.dumps(record, indent=indent))

    def mark_done(self, r: int) -> None:
        self.write(self.done(r), "")

    def write_labels(self, r: int, rows: list[dict]) -> None:
        """labels.jsonl: every labelled problem of round r, kept or not (one JSON object a line)."""
        self.write(self.labels(r), "\n".join(json.dumps(row) for row in rows) + "\n")

    def read_labels(self, r: int) -> list[dict]:
        return read_jsonl(self.labels(r))

    def write_metrics(self, record: dict, summary: dict) -> None:
        """Rewrite metrics.jsonl with round ``record["round"]``'s lines (one per cell and model,
        then the round summary) replacing any from an interrupted attempt."""
        old = [x for x in read_jsonl(self.metrics) if x.get("round") != record["round"]] if self.metrics.exists() else []
        per_model = record["models"] or [record["cells"]]
        new = [{"round": record["round"], "step": record["step"], "model": m, **cell}
               for m, cells in enumerate(per_model) for cell in cells]
        lines = old + new + [{"kind": "round", **summary}]
        self.write(self.metrics, "".join(json.dumps(x) + "\n" for x in lines))
