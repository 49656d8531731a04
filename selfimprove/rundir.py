"""Read a run directory back into plain records, tolerating a run that is still going.

Only files are read (``docs/RUN_DIR.md``, located by ``layout.RunDir``): ``config.yaml``,
``round_*/eval.json``, ``round_*/filter_stats.json``, ``round_*/probe.json``, ``round_*/DONE``
and ``metrics.jsonl``.
Nothing here imports torch or the task code, so a report can be made on a laptop from a copied
folder.

A live run is the normal case, so gaps are expected rather than errors: the newest round may have
no ``eval.json`` yet, a round may have its eval but not its filter stats, ``config.yaml`` may be
absent. Each gap becomes a line in ``RunData.notes``. Where ``eval.json`` is missing but
``metrics.jsonl`` already holds that round's cells, those are used (mean over models).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove.io import read_jsonl
from selfimprove.layout import RunDir

# A difficulty as the report keys it: files hold an int or a list; lists become hashable tuples.
Key = int | tuple[int, ...]

def to_key(difficulty: Any) -> Key:
    """``12 -> 12``, ``[6, 3] -> (6, 3)``: the file form of a difficulty to a dict key."""
    if isinstance(difficulty, (list, tuple)):
        return tuple(int(x) for x in difficulty)
    return int(difficulty)


def spans(values: Iterable[int]) -> list[tuple[int, int]]:
    """``[1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]``: contiguous runs, for "1–3, 7–8" and shading."""
    out: list[tuple[int, int]] = []
    for v in sorted(set(values)):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


@dataclass
class RoundInfo:
    """Everything the report knows about one round; ``None`` where the file is not there yet."""

    index: int
    done: bool = False
    step: int | None = None
    cells: dict[Key, float] = field(default_factory=dict)  # difficulty -> exact-match accuracy
    trained: list[Key] = field(default_factory=list)  # every difficulty trained on so far
    sampled: list[Key] = field(default_factory=list)  # difficulties new data came from this round
    wall_time_s: float | None = None  # cumulative for the run, as eval.json records it
    labelled: int | None = None
    kept: int | None = None
    keep_rate: float | None = None  # kept / labelled
    label_accuracy: float | None = None  # diagnostic: all self-labels vs ground truth
    kept_accuracy: float | None = None  # diagnostic: kept self-labels vs ground truth
    right_kept: float | None = None  # diagnostic: the share of right self-labels the filters kept
    task: str | None = None  # eval.json's task name, the fallback when config.yaml is absent
    probe: dict[Key, float] = field(default_factory=dict)  # what an accelerated schedule measured
    probe_kind: str | None = None  # "agreement" (label-free) or "accuracy" (ground truth)
    probe_threshold: float | None = None  # the pass mark the schedule used (defaults included)
    probe_first_threshold: float | None = None  # a lower mark for the first untrained difficulty, if any

    @property
    def evaluated(self) -> bool:
        return bool(self.cells)


@dataclass
class RunData:
    """A run directory as read at one instant."""

    run_dir: Path
    name: str
    task: str
    config: dict[str, Any]
    rounds: list[RoundInfo]  # sorted by index; includes rounds not evaluated yet
    notes: list[str] = field(default_factory=list)
    runtime: dict[str, Any] | None = None  # runtime.json: device, precisions, threads, CPU of the last (re)start

    @property
    def evaluated(self) -> list[RoundInfo]:
        return [r for r in self.rounds if r.evaluated]


def load_run(run_dir: Path) -> RunData:
    """Read ``run_dir``; never raises for missing files (see ``notes``), only for a missing dir."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    notes: list[str] = []
    files = RunDir(run_dir)
    config = _load_config(files.config, notes)
    rounds = {r: _load_round(files, r, notes) for r in files.rounds()}
    _fill_from_metrics(files, rounds, notes)

    ordered = [rounds[i] for i in sorted(rounds)]
    for prev, cur in zip([None, *ordered], ordered):
        if cur.sampled or not cur.trained:
            continue
        # Without filter_stats.json the round's new difficulties are what `trained` gained.
        before = set(prev.trained) if prev is not None and prev.index == cur.index - 1 else set()
        if cur.index == 0 or before:
            cur.sampled = [k for k in cur.trained if k not in before]

    task_cfg = config.get("task")
    task = task_cfg.get("name") if isinstance(task_cfg, dict) else task_cfg
    if not task:
        task = next((r.task for r in ordered if r.task), "unknown task")
    return RunData(run_dir, str(config.get("name") or run_dir.name), str(task), config, ordered,
                   notes, _read_json(files.runtime, notes))


def _load_config(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.exists():
        notes.append("config.yaml not found; task and config name come from the files.")
        return {}
    import yaml  # local: keeps `import selfimprove.report` cheap

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        notes.append(f"config.yaml unreadable ({type(err).__name__}); ignored.")
        return {}
    return data if isinstance(data, dict) else {}


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        # Files are written atomically, so this is corruption; show it and keep the rest usable.
        notes.append(f"{path.parent.name}/{path.name} is not valid JSON ({err}); ignored.")
        return None
    return data if isinstance(data, dict) else None


def _load_round(files: RunDir, index: int, notes: list[str]) -> RoundInfo:
    info = RoundInfo(index=index, done=files.done(index).exists())
    ev = _read_json(files.eval(index), notes)
    if ev is not None:
        info.step, info.task = ev.get("step"), ev.get("task")
        info.cells = {to_key(c["difficulty"]): float(c["accuracy"])
                      for c in ev.get("cells", []) if c.get("accuracy") is not None}
        info.trained = [to_key(d) for d in ev.get("trained", [])]
        info.wall_time_s = ev.get("wall_time_s")
    fs = _read_json(files.filter_stats(index), notes)
    if fs is not None:
        info.sampled = [to_key(d) for d in fs.get("difficulties", [])]
        info.labelled, info.kept = fs.get("labelled"), fs.get("kept")
        if info.labelled and info.kept is not None:
            info.keep_rate = info.kept / info.labelled
        if info.labelled != 0:  # a waiting round labelled nothing: no accuracy to speak of
            info.label_accuracy = fs.get("label_accuracy")
            info.kept_accuracy = fs.get("kept_accuracy")
            info.right_kept = fs.get("right_kept")  # absent before session 37, None where none was right
    pr = _read_json(files.probe(index), notes)
    if pr is not None:
        info.probe_kind, info.probe_threshold = pr.get("kind"), pr.get("threshold")
        info.probe_first_threshold = pr.get("first_threshold")
        info.probe = {to_key(v["difficulty"]): float(v["value"]) for v in pr.get("values", [])}
    folder = files.round(index).name
    if ev is None:
        notes.append(f"{folder}: no eval.json yet" + ("" if info.done else " (in progress)"))
    elif fs is None and index > 0:
        notes.append(f"{folder}: eval.json but no filter_stats.json")
    return info


def _fill_from_metrics(files: RunDir, rounds: dict[int, RoundInfo], notes: list[str]) -> None:
    """Use metrics.jsonl only for what the round folders lack (it duplicates them otherwise)."""
    path = files.metrics
    if not path.exists():
        return
    try:
        rows = read_jsonl(path)
    except ValueError as err:
        notes.append(f"metrics.jsonl ignored: {err}")
        return
    per_cell: dict[int, dict[Key, list[float]]] = defaultdict(lambda: defaultdict(list))
    summary: dict[int, dict[str, Any]] = {}
    steps: dict[int, int] = {}
    for row in rows:
        if not isinstance(row, dict) or "round" not in row:
            continue
        r = int(row["round"])
        if row.get("kind") == "round":
            summary[r] = row
        elif "difficulty" in row and row.get("accuracy") is not None:
            per_cell[r][to_key(row["difficulty"])].append(float(row["accuracy"]))
            if row.get("step") is not None:
                steps[r] = row["step"]
    for r in sorted(set(per_cell) | set(summary)):
        info = rounds.setdefault(r, RoundInfo(index=r))
        if not info.cells and per_cell.get(r):
            info.cells = {k: sum(v) / len(v) for k, v in per_cell[r].items()}
            info.step = info.step if info.step is not None else steps.get(r)
            notes.append(f"{files.round(r).name}: accuracy taken from metrics.jsonl (no eval.json)")
        s = summary.get(r, {}) if info.labelled is None else {}  # filter_stats.json said it all
        if info.label_accuracy is None:
            info.label_accuracy = s.get("label_accuracy")
        if info.keep_rate is None:
            info.keep_rate = s.get("kept_fraction")
        if info.wall_time_s is None:
            info.wall_time_s = s.get("wall_time_s")

