"""Report from synthetic run directories: finished, 2-D, unfinished, empty; and longest_at."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from selfimprove.io import atomic_write_text
from selfimprove.report import (
    ReportError,
    fmt_difficulties,
    fmt_duration,
    longest_at,
    summarize,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def append_jsonl(path: Path, obj) -> None:
    """One line onto a hand-made run's metrics.jsonl (as a run's rewrite would leave it)."""
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def _write_round(run: Path, r: int, cells: dict[Any, float], trained: list[Any], *,
                 task: str, done: bool = True, stats: dict[str, Any] | None = None) -> None:
    folder = run / f"round_{r:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    listed = [{"difficulty": list(d) if isinstance(d, tuple) else d, "n": 200, "accuracy": a}
              for d, a in cells.items()]
    atomic_write_text(folder / "eval.json", json.dumps(
        {"round": r, "step": 1000 * (r + 1), "task": task, "trained": trained, "cells": listed,
         "wall_time_s": 90.0 * (r + 1)}))
    for c in listed:
        append_jsonl(run / "metrics.jsonl", {"round": r, "step": 1000 * (r + 1), "model": 0, **c})
    if stats is not None:
        atomic_write_text(folder / "filter_stats.json", json.dumps({"round": r, **stats}))
    if done:
        (folder / "DONE").write_text("")


def _curve(reach: int, top: int = 20) -> dict[int, float]:
    """Perfect up to ``reach``, then falling off: longest_at == reach by construction."""
    return {d: 1.0 if d <= reach else max(0.0, 0.9 - 0.2 * (d - reach - 1))
            for d in range(1, top + 1)}


def _addition_run(run: Path) -> None:
    """Reverse addition, rounds 0-2: trained 1-10, +1 per round, reach 10 -> 11 -> 13."""
    run.mkdir()
    atomic_write_text(run / "config.yaml", "name: add-demo\ntask: {name: reverse_addition}\n"
                      "rounds:\n  filters: [{kind: length}, {kind: majority, tau: 0.7}]\n"
                      "  schedule: {kind: plus_one}\n  models: 3\n")
    _write_round(run, 0, _curve(10), list(range(1, 11)), task="reverse_addition")
    for r, reach, acc in ((1, 11, 0.96), (2, 13, 0.98)):
        _write_round(run, r, _curve(reach), list(range(1, 11 + r)), task="reverse_addition",
                     stats={"difficulties": [10 + r], "labelled": 1000, "kept": 900 + 10 * r,
                            "label_accuracy": acc, "kept_accuracy": 0.999, "right_kept": acc - 0.02, "filters": []})


def _check_pngs(plots: Path, names: list[str]) -> None:
    for name in names:
        data = (plots / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 5_000, name  # a real figure, not an empty canvas
    assert not [p for p in plots.iterdir() if p.name.startswith(".")]  # no temp files left


def test_longest_at_ints_stops_at_first_dip() -> None:
    assert longest_at({1: 1.0, 2: 1.0, 3: 0.99, 4: 0.995}) == 4
    assert longest_at({1: 1.0, 2: 0.98, 3: 1.0, 4: 1.0}) == 1  # 3 and 4 lie beyond the gap
    assert longest_at({1: 0.5, 2: 1.0}) is None
    assert longest_at({}) is None
    assert longest_at({5: 1.0, 3: 1.0, 9: 0.2}) == 5  # order of the mapping does not matter
    assert longest_at({1: 198 / 200}) == 1  # k/n rounding must not lose an exact 0.99
    assert longest_at({1: 1.0, 2: 0.9}, threshold=0.8) == 2
    assert longest_at(_curve(13)) == 13


def test_longest_at_accepts_eval_json_cells() -> None:
    cells = [{"difficulty": d, "n": 10, "accuracy": a} for d, a in _curve(7).items()]
    assert longest_at(cells) == 7


def test_longest_at_grid_needs_every_cell_below_n() -> None:
    grid = {(a, b): 1.0 for a in range(1, 6) for b in range(1, 6)}
    assert longest_at(grid) == 5
    grid[(2, 4)] = 0.5  # one off-diagonal failure caps the square at 3x3
    assert longest_at(grid) == 3
    grid[(1, 1)] = 0.9
    assert longest_at(grid) is None
    # list form, as in eval.json
    assert longest_at([{"difficulty": [a, b], "accuracy": 1.0} for a in (1, 2) for b in (1, 2)]) == 2


def test_longest_at_one_varying_coordinate_is_one_dimensional() -> None:
    maze = {(h, 30): 1.0 if h <= 12 else 0.4 for h in range(1, 20)}  # hops at fixed 30 nodes
    assert longest_at(maze) == 12


def test_formatters() -> None:
    assert fmt_difficulties(range(1, 17)) == "1–16"
    assert fmt_difficulties([1, 2, 3, 7]) == "1–3, 7"
    assert fmt_difficulties([(a, b) for a in range(1, 6) for b in range(1, 6)]) == "1–5 × 1–5"
    assert fmt_difficulties([(6, 1), (1, 6)]) == "1×6, 6×1"
    assert fmt_difficulties([]) == "—"
    assert fmt_duration(75) == "1 min 15 s"
    assert fmt_duration(7260) == "2 h 01 min"


def test_report_on_finished_addition_run(tmp_path: Path) -> None:
    run = tmp_path / "add"
    _addition_run(run)
    path = write_report(run)
    assert path == run / "report.md"
    _check_pngs(run / "plots", ["accuracy.png", "rounds.png"])
    md = path.read_text()
    for r in range(3):
        assert f"| {r} | done |" in md
    assert "reverse_addition" in md and "add-demo" in md
    assert "filters: length, majority (tau 0.7)" in md and "models voting: 3" in md
    assert "round 0 trained on 1–10" in md
    assert "longest at ≥ 99%: 13 (round 2)" in md
    assert "rounds done: 3 (round 0 + 2 self-improvement)" in md
    assert "wall time 4 min 30 s" in md
    assert "| 91.0% | 96.0% | 99.9% | 94.0% | 11 |" in md  # round 1: kept %, label / kept-label acc., right kept
    assert "![Accuracy by difficulty, one line per round](plots/accuracy.png)" in md
    s = summarize(run)
    assert (s["longest_at_99"], s["best_longest_at_99"], s["rounds_done"]) == (13, 13, 3)
    assert s["trained_round0"] == list(range(1, 11)) and s["wall_time_s"] == 270.0
    assert s["headline"] in md


def test_report_on_multiplication_grid(tmp_path: Path) -> None:
    run = tmp_path / "mul"
    run.mkdir()
    atomic_write_text(run / "config.yaml", "name: mul-demo\ntask: {name: multiplication}\n")
    base = [[a, b] for a in range(1, 5) for b in range(1, 5)]
    for r in range(6):
        n = 4 + r // 2  # reach grows every other round
        cells = {(a, b): 1.0 if max(a, b) <= n else 0.3 for a in range(1, 8) for b in range(1, 8)}
        new = [[5, b] for b in range(1, 6)] if r else []
        _write_round(run, r, cells, base + (new if r else []), task="multiplication",
                     stats={"difficulties": new, "labelled": 100, "kept": 80} if r else None)
    write_report(run)
    heatmaps = sorted(p.name for p in (run / "plots").glob("heatmap_round_*.png"))
    assert heatmaps == [f"heatmap_round_{i:03d}.png" for i in (0, 2, 3, 5)]  # at most four
    _check_pngs(run / "plots", ["accuracy.png", "rounds.png", *heatmaps])
    md = (run / "report.md").read_text()
    assert "round 0 trained on 1–4 × 1–4" in md and "longest at ≥ 99%: 6×6 (round 5)" in md
    assert "(plots/heatmap_round_005.png)" in md
    assert summarize(run)["longest_at_99"] == 6


def test_report_on_unfinished_run(tmp_path: Path) -> None:
    run = tmp_path / "live"  # no config.yaml: names come from the folder and eval.json
    run.mkdir()
    _write_round(run, 0, _curve(8), list(range(1, 9)), task="copy")
    _write_round(run, 1, _curve(9), list(range(1, 10)), task="copy",
                 stats={"difficulties": [9], "labelled": 50, "kept": 50, "label_accuracy": 1.0,
                        "kept_accuracy": 1.0})
    _write_round(run, 2, _curve(9), list(range(1, 11)), task="copy", done=False)  # no stats
    (run / "round_003").mkdir()  # just started: nothing written yet
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"round": 2, "kind": "rou')  # the writer was killed mid-line
    write_report(run)
    _check_pngs(run / "plots", ["accuracy.png", "rounds.png"])
    md = (run / "report.md").read_text()
    assert "task `copy`" in md and "config `live`" in md
    assert "| 3 | in progress | — | — |" in md and "| 2 | not done | 3000 | — | 10 |" in md
    assert "round_002: eval.json but no filter_stats.json" in md
    assert "round_003: no eval.json yet (in progress)" in md
    assert "in progress: round 2, 3" in md and "longest at ≥ 99%: 9 (round 2)" in md


def test_metrics_jsonl_stands_in_for_a_missing_eval_json(tmp_path: Path) -> None:
    run = tmp_path / "m"
    run.mkdir()
    _write_round(run, 0, _curve(5), list(range(1, 6)), task="copy")
    for d, a in _curve(7).items():  # two voters of round 1; eval.json not written yet
        for model, acc in ((0, a), (1, a)):
            append_jsonl(run / "metrics.jsonl", {"round": 1, "step": 7, "difficulty": d,
                                                 "n": 10, "accuracy": acc, "model": model})
    append_jsonl(run / "metrics.jsonl", {"round": 1, "kind": "round", "label_accuracy": 0.9,
                                         "kept_fraction": 0.5, "wall_time_s": 400.0})
    assert summarize(run)["longest_at_99"] == 7
    md = write_report(run).read_text()
    assert "accuracy taken from metrics.jsonl" in md and "| 50.0% | 90.0% |" in md


def test_report_with_only_round_zero(tmp_path: Path) -> None:
    run = tmp_path / "r0"
    run.mkdir()
    _write_round(run, 0, _curve(10), list(range(1, 11)), task="reverse_addition")
    write_report(run)
    _check_pngs(run / "plots", ["accuracy.png", "rounds.png"])
    assert "rounds done: 1 (round 0 + 0 self-improvement)" in (run / "report.md").read_text()


def test_many_rounds_use_a_colourbar(tmp_path: Path) -> None:
    run = tmp_path / "long"
    run.mkdir()
    for r in range(14):
        _write_round(run, r, _curve(10 + r, top=30), list(range(1, 11 + r)), task="copy")
    write_report(run)
    _check_pngs(run / "plots", ["accuracy.png", "rounds.png"])


def test_nothing_evaluated_raises_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="nothing evaluated"):
        write_report(tmp_path)
    (tmp_path / "round_000").mkdir()
    with pytest.raises(ReportError, match="nothing evaluated"):
        summarize(tmp_path)
    with pytest.raises(ReportError, match="not found"):
        write_report(tmp_path / "missing")
    assert isinstance(ReportError("x"), ValueError)


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, selfimprove.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_waiting_round_has_no_label_accuracy_rather_than_zero(tmp_path: Path) -> None:
    from selfimprove.rundir import load_run

    run = tmp_path / "add"
    _addition_run(run)
    waited = {"difficulties": [], "labelled": 0, "kept": 0, "label_accuracy": 0.0,
              "kept_accuracy": 0.0, "filters": []}
    _write_round(run, 3, _curve(13), list(range(1, 14)), task="reverse_addition", stats=waited)
    append_jsonl(run / "metrics.jsonl", {"kind": "round", "round": 3, "label_accuracy": 0.0, "kept_fraction": 0.0})
    info = {r.index: r for r in load_run(run).rounds}[3]
    assert (info.label_accuracy, info.kept_accuracy, info.keep_rate) == (None, None, None)
    md = write_report(run).read_text()
    row = next(line for line in md.splitlines() if line.startswith("| 3 | done |"))
    assert "0.0%" not in row
    _check_pngs(run / "plots", ["rounds.png"])


def test_the_probe_column_and_its_threshold_come_from_probe_json(tmp_path: Path) -> None:
    run = tmp_path / "acc"
    run.mkdir()
    # The config leaves the threshold at the schedule's default; only probe.json knows it.
    atomic_write_text(run / "config.yaml", "name: acc\ntask: {name: reverse_addition}\n"
                      "rounds:\n  schedule: {kind: accelerated}\n")
    _write_round(run, 0, _curve(10), list(range(1, 11)), task="reverse_addition")
    _write_round(run, 1, _curve(12), list(range(1, 13)), task="reverse_addition",
                 stats={"difficulties": [11, 12], "labelled": 100, "kept": 100, "label_accuracy": 1.0,
                        "kept_accuracy": 1.0, "filters": []})
    atomic_write_text(run / "round_001" / "probe.json", json.dumps(
        {"kind": "accuracy", "threshold": 0.99, "values": [{"difficulty": 11, "value": 0.995},
                                                          {"difficulty": 12, "value": 0.99},
                                                          {"difficulty": 13, "value": 0.4}]}))
    md = write_report(run).read_text()
    row = next(line for line in md.splitlines() if line.startswith("| 1 | done |"))
    assert "11: 0.99, 12: 0.99, 13: 0.40" in row
    assert "(accuracy; threshold 0.99)" in md and "threshold None" not in md


def test_a_lower_first_threshold_is_named_beside_the_threshold(tmp_path: Path) -> None:
    # A frontier labelled at agreement 0.48 under "threshold 0.85" reads as a bug unless the
    # report says the first untrained length had its own, lower bar.
    run = tmp_path / "first"
    run.mkdir()
    atomic_write_text(run / "config.yaml", "name: first\ntask: {name: reverse_addition}\n")
    _write_round(run, 0, _curve(8), list(range(1, 9)), task="reverse_addition")
    _write_round(run, 1, _curve(9), list(range(1, 10)), task="reverse_addition",
                 stats={"difficulties": [9], "labelled": 100, "kept": 48, "label_accuracy": 0.8,
                        "kept_accuracy": 0.999, "filters": []})
    atomic_write_text(run / "round_001" / "probe.json", json.dumps(
        {"kind": "agreement", "threshold": 0.85, "first_threshold": 0.3,
         "values": [{"difficulty": 9, "value": 0.48}, {"difficulty": 10, "value": 0.0}]}))
    md = write_report(run).read_text()
    assert "(agreement; threshold 0.85, 0.3 for the first untrained difficulty)" in md
