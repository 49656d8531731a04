"""RunDir: the one place a run directory's names come from, and they are the documented ones."""

from pathlib import Path

from selfimprove.layout import RunDir

ROOT = Path(__file__).resolve().parents[1]


def test_every_name_the_run_dir_gives_is_documented_in_run_dir_md():
    doc = (ROOT / "docs" / "RUN_DIR.md").read_text()
    files = RunDir(Path("runs/x"), k=2)
    names = [files.config.name, files.runtime.name, files.lock.name, files.metrics.name, files.base.name, files.report.name,
             f"{files.plots.name}/", f"{files.round(0).name}/", files.done(1).name, files.eval(1).name,
             files.labels(1).name, files.filter_stats(1).name, files.plan(1).name, files.probe(1).name,
             f"{files.prefix(1)[:1]}<k>_checkpoint/"]
    assert [n for n in names if n not in doc] == []


def test_a_single_model_has_no_prefix_and_round_folders_are_found_in_order(tmp_path):
    files = RunDir(tmp_path)
    assert files.prefix(0) == "" and RunDir(tmp_path, k=3).prefix(2) == "m2_"
    for name in ("round_010", "round_002", "round_2", "round_x", "plots"):
        (tmp_path / name).mkdir()
    (tmp_path / "round_003").write_text("not a folder")
    files.mark_done(10)
    assert files.rounds() == [2, 10] and files.finished() == [10]
    assert RunDir(tmp_path / "missing").rounds() == []


def test_metrics_are_rewritten_with_a_rounds_lines_replacing_an_interrupted_attempt(tmp_path):
    files = RunDir(tmp_path)
    cells = [{"difficulty": 1, "n": 4, "accuracy": 0.5}]
    for attempt in range(2):
        files.write_metrics({"round": 0, "step": 10, "cells": cells, "models": None}, {"round": 0, "try": attempt})
    files.write_metrics({"round": 1, "step": 5, "cells": cells, "models": [cells, cells]}, {"round": 1})
    lines = files.metrics.read_text().splitlines()
    assert len(lines) == 2 + 3 and '"try": 1' in lines[1] and '"try": 0' not in "".join(lines)


def test_labels_round_trip_through_their_file(tmp_path):
    files = RunDir(tmp_path)
    rows = [{"model": 0, "prompt": "1+2=", "difficulty": [1, 1], "label": "3", "kept": True}]
    files.write_labels(1, rows)
    assert files.read_labels(1) == rows
