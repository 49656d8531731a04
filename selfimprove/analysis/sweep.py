"""Sweeps: one config, a list of override sets, one command (paper B.6.3 Fig 27, B.6.2 Fig 25,
B.7 Fig 28). Each point is an ordinary run directory ``<out>/<point name>``, so a rerun of the
same command resumes every point where it stopped and skips the finished ones::

    name: size_sweep
    config: configs/cpu/addition.yaml
    overrides: [threads=1]                 # for every point
    points:
      - {name: seed0, overrides: [seed=0, rounds.count=0]}
      - {name: seed0_n500, overrides: [seed=0, rounds.problems=500], base: seed0}

``base`` (optional) names an earlier point whose finished round 0 this one starts from
(``selfimprove run --base``), so points differing only after round 0 share a base model;
``base_round: R`` takes its rounds 0..R (``--base-round``), for points that differ only from round
R + 1 on (noise injected there).
``summarise_sweep`` writes ``<out>/analysis/sweep.json`` + ``.png``: per point and round the
longest difficulty at >= 99%, and with ``at`` the accuracy at that difficulty.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

from selfimprove.analysis import common, figures
from selfimprove.config import ConfigError, RunConfig, apply_override, load_config
from selfimprove.io import atomic_write_text, read_yaml


@dataclass(frozen=True)
class Point:
    name: str
    cfg: RunConfig
    overrides: tuple[str, ...]
    base: str | None = None
    base_round: int = 0


def load_sweep(path: Path) -> tuple[str, list[Point]]:
    """The sweep file, every point's config loaded and validated before anything runs."""
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict) or set(spec) - {"name", "config", "overrides", "points"}:
        raise ConfigError(f"sweep file {path} must be a mapping with keys name, config, overrides, points")
    if "config" not in spec or not isinstance(spec.get("points"), list) or not spec["points"]:
        raise ConfigError(f"sweep file {path} needs 'config' (a YAML config) and a non-empty list 'points'")
    config = Path(spec["config"])
    common_overrides = [str(x) for x in spec.get("overrides") or []]
    points: list[Point] = []
    for i, raw in enumerate(spec["points"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or set(raw) - {"name", "overrides", "base", "base_round"}:
            raise ConfigError(f"{path}: points[{i}] must be a mapping {{name, overrides: [key=value, ...], base?, base_round?}}")
        name, base, base_round = raw["name"], raw.get("base"), raw.get("base_round", 0)
        if "/" in name or name in {p.name for p in points} or name in ("", ".", "..", "analysis"):
            raise ConfigError(f"{path}: points[{i}] name {name!r} is repeated, reserved (analysis) or not a plain folder name")
        if base is not None and base not in {p.name for p in points}:
            raise ConfigError(f"{path}: points[{i}] base {base!r} must name an earlier point")
        if type(base_round) is not int or base_round < 0 or (base_round and base is None):
            raise ConfigError(f"{path}: points[{i}] base_round must be a round number >= 0, with a base")
        overrides = tuple(common_overrides + [str(x) for x in raw.get("overrides") or []])
        points.append(Point(name, load_config(config, list(overrides) + [f"name={name}"]), overrides, base, base_round))
    return str(spec.get("name") or path.stem), points


def run_sweep(path: Path, out: Path | None = None, log=print, at=None) -> Path:
    """Run (or resume) every point in order, then write the summary; returns the sweep folder."""
    from selfimprove.report import write_report
    from selfimprove.rounds import run_rounds

    name, points = load_sweep(path)
    out = out or Path("runs") / name
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.yaml", path.read_text())
    for point in points:
        log(f"sweep {name}: point {point.name} ({' '.join(point.overrides) or 'no overrides'})")
        run_rounds(point.cfg, out / point.name, log=log, base=out / point.base if point.base else None,
                   base_round=point.base_round)
        write_report(out / point.name)
    return summarise_sweep(out, at=at)


def summarise_sweep(out: Path, at=None, name: str | None = None, x: str | None = None, group: str | None = None,
                    round_: int | None = None, only: str | None = None) -> Path:
    """sweep.json / sweep.png over the points of ``out`` (the order of its sweep.yaml when present).

    With ``at`` and ``x`` the record also holds ``against``: each point's accuracy at ``at`` after
    round ``round_`` (default its last) against ``x`` — an override key the points set (Fig 27:
    ``rounds.problems``; a key inside a mapping value too, Fig 25: ``rounds.noise.p``) or
    ``kept_accuracy``, the accuracy of the point's first labelled round's kept labels (Fig 28:
    random labels vs self-labels of equal accuracy) — in lines by ``group`` (e.g. ``seed``), over
    the points whose name matches the pattern ``only`` (all by default), and the PNG a second panel
    with it."""
    from selfimprove.report import longest_at
    from selfimprove.rundir import load_run

    spec = read_yaml(out / "sweep.yaml") if (out / "sweep.yaml").exists() else {}
    declared = {p["name"]: p for p in spec.get("points", []) if isinstance(p, dict) and "name" in p}
    folders = [out / n for n in declared] if declared else sorted(p.parent for p in out.glob("*/config.yaml"))
    shared = [str(x) for x in spec.get("overrides") or []]
    points = []
    for folder in folders:
        if not (folder / "config.yaml").exists():
            continue  # not started yet
        run = load_run(folder)
        last = run.evaluated[-1] if run.evaluated else None
        points.append({
            "name": folder.name,
            "overrides": shared + [str(x) for x in declared.get(folder.name, {}).get("overrides") or []],
            "rounds": [r.index for r in run.evaluated],
            "planned": (run.config.get("rounds") or {}).get("count"),  # its last round, once finished
            "longest_at_99": {str(r.index): longest_at(r.cells) for r in run.evaluated},
            # cumulative minutes of run after each round, and the machine they were measured on
            "minutes": {str(r.index): None if r.wall_time_s is None else round(r.wall_time_s / 60, 4)
                        for r in run.evaluated},
            "runtime": run.runtime,
            "accuracy_at": {str(r.index): r.cells.get(at) for r in run.evaluated} if at is not None else None,
            "kept_accuracy": {str(r.index): r.kept_accuracy for r in run.evaluated if r.index > 0 and r.labelled},
            "final": None if last is None else {"round": last.index, "longest_at_99": longest_at(last.cells),
                                                "label_accuracy": last.label_accuracy, "kept_accuracy": last.kept_accuracy},
        })
    if not points:
        raise ConfigError(f"{out} holds no sweep point yet (no */config.yaml); run `selfimprove sweep SWEEP.yaml` first")
    record = {"name": name or spec.get("name") or out.name, "at": at, "points": points}
    if x is not None:
        if at is None:
            raise ConfigError("--x plots accuracy at a difficulty against x: give --at too")
        chosen = [p for p in points if only is None or fnmatch.fnmatchcase(p["name"], only)]
        record["against"] = against(chosen, x, group, round_)
    return common.save(out, "sweep", record, figures.sweep_png(record))


def override(point: dict, key: str):
    """The value a point's overrides give ``key`` (the last wins), looking inside mapping values for
    a dotted rest: ``rounds.noise.p`` in ``rounds.noise={kind: uniform, p: 0.1}`` is 0.1; None if unset."""
    given: dict = {}
    for text in point["overrides"]:
        apply_override(given, text)  # the CLI's own parse, into nested mappings
    for part in key.split("."):
        given = given.get(part) if isinstance(given, dict) else None
    return given


def against(points: list[dict], x: str, group: str | None, round_: int | None) -> dict:
    """Each point's accuracy at ``at`` (after ``round_`` or its last round) against ``x``; points
    without ``x`` (a base point that sets no ``rounds.problems``), without that round, or (with no
    ``round_``) not finished yet are left out."""
    rows = []
    for point in points:
        if x == "kept_accuracy":
            kept = point["kept_accuracy"]
            value = kept[min(kept, key=int)] if kept else None
        else:
            value = override(point, x)
        if round_ is None and point.get("planned") is not None and point["rounds"][-1:] != [point["planned"]]:
            continue  # still running: its latest round is not where it ends
        r = str(round_) if round_ is not None else (str(point["rounds"][-1]) if point["rounds"] else None)
        accuracy = (point["accuracy_at"] or {}).get(r)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and accuracy is not None:
            rows.append({"name": point["name"], "x": value, "round": int(r), "accuracy": accuracy,
                         "group": None if group is None else str(override(point, group))})
    if not rows:
        raise ConfigError(f"no sweep point (of those chosen) has both a number for {x!r} and an accuracy at that round; "
                          f"x is an override key the points set (e.g. rounds.problems, rounds.noise.p) or kept_accuracy")
    return {"x": x, "group": group, "round": round_, "points": rows}
