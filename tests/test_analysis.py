"""`selfimprove analyze` and `selfimprove sweep` on run directories whose answer is known: a
hand-made run (labels written by hand) and a seconds-long real sweep of two points."""

import json
import random
from pathlib import Path

import pytest
import yaml

from selfimprove.analysis.errors import analyze_errors
from selfimprove.analysis.memorised import data_vs_next
from selfimprove.cli import main
from selfimprove.config import load_config, to_plain
from selfimprove.report import write_report
from selfimprove.tasks import get_task

TASK = get_task("reverse_addition")


def write_run(root: Path) -> Path:
    """Round 0 + round 1 by hand: 10 labels at 4 digits, 2 dropped a digit, 1 has a wrong digit, 7 right."""
    root.mkdir()
    (root / "config.yaml").write_text(yaml.safe_dump(to_plain(load_config("configs/smoke.yaml"))))
    rng = random.Random(0)
    rows = []
    for i in range(10):
        p = TASK.sample(4, rng)
        right = TASK.solve(p)
        label = right[:1] + right[2:] if i < 2 else right[:2] + str((int(right[2]) + 3) % 10) + right[3:] if i == 2 else right
        rows.append({"model": 0, "prompt": TASK.prompt(p), "difficulty": 4, "label": label, "answers": [],
                     "kept": i != 0, "dropped_by": None if i else "length", "correct": label == right})
    for r, trained in ((0, [1, 2, 3]), (1, [1, 2, 3, 4])):
        folder = root / f"round_{r:03d}"
        folder.mkdir()
        cells = [{"difficulty": d, "n": 16, "accuracy": 1.0 if d <= 3 else 0.75 if d == 4 else 0.0} for d in range(1, 7)]
        (folder / "eval.json").write_text(json.dumps({"round": r, "step": 10, "task": TASK.name, "trained": trained,
                                                      "cells": cells}))
        (folder / "DONE").write_text("")
    (root / "round_001" / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    (root / "round_001" / "filter_stats.json").write_text(json.dumps(
        {"round": 1, "difficulties": [4], "labelled": 10, "kept": 9, "label_accuracy": 0.7, "kept_accuracy": 7 / 9,
         "filters": []}))
    return root


def test_hand_made_wrong_labels_are_classified(tmp_path):
    run = write_run(tmp_path / "run")
    record = json.loads(analyze_errors(run).read_text())
    labels, kept = record["rounds"]["1"]["labels"], record["rounds"]["1"]["kept"]
    assert (labels["answers"], labels["wrong"], kept["answers"], kept["wrong"]) == (10, 3, 9, 2)
    assert labels["checks"] == {"length": 2, "value": 1}
    digits = labels["digits"]
    assert digits["short_share"] == pytest.approx(2 / 3)
    assert digits["off_by"] in ({"3": 1}, {"-7": 1})  # +3 mod 10: the offset is answer - expected
    wrong_at_2 = digits["per_position"]["2"]["wrong"]
    assert wrong_at_2 == 1 and sum(v["dropped"] for v in digits["per_position"].values()) == 2
    assert (run / "analysis" / "errors.png").stat().st_size > 1000


def test_data_accuracy_sits_next_to_the_labellers_accuracy(tmp_path):
    rows = data_vs_next(write_run(tmp_path / "run"))
    assert rows == [{"round": 1, "difficulties": [4], "kept_accuracy": pytest.approx(7 / 9), "label_accuracy": 0.7,
                     "next_accuracy": 0.75}]


def test_report_gains_a_section_only_once_an_analysis_exists(tmp_path):
    run = write_run(tmp_path / "run")
    assert "## Error taxonomy" not in write_report(run).read_text()
    analyze_errors(run)
    text = write_report(run).read_text()
    assert "## Error taxonomy" in text and "![Error taxonomy](analysis/errors.png)" in text


MICRO = ["threads=1", "round0.examples=300", "round0.train.steps=6", "round0.train.checkpoint_every=6",
         "round0.train.decay_steps=2", "round0.train.warmup_steps=1", "rounds.count=1", "rounds.problems=16", "rounds.train.steps=2",
         "rounds.train.decay_steps=1", "rounds.train.warmup_steps=0", "rounds.train.checkpoint_every=2", "eval.n=4", "eval.high=4"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two points sharing one round 0: the base, and one with noise injected at round 1."""
    root = tmp_path_factory.mktemp("sweep")
    spec = {"name": "tiny", "config": "configs/smoke.yaml", "overrides": MICRO,
            "points": [{"name": "base", "overrides": []},
                       {"name": "noisy", "overrides": ["rounds.noise={kind: drop_digits, p: 0.5, at: [1]}"], "base": "base"}]}
    path = root / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--out", str(root / "out")]) == 0
    return path, root / "out"


def test_sweep_runs_points_as_run_directories_and_resumes(sweep, capsys):
    path, out = sweep
    record = json.loads((out / "analysis" / "sweep.json").read_text())
    assert [p["name"] for p in record["points"]] == ["base", "noisy"]
    assert record["points"][1]["overrides"][-1].startswith("rounds.noise=")
    assert (out / "noisy" / "BASE").exists()  # round 0 forked from the base point
    marked = [x for x in map(json.loads, (out / "noisy" / "round_001" / "labels.jsonl").read_text().splitlines()) if "noise" in x]
    assert marked and all(x["noise"] == "drop_digits" and len(x["label"]) < len(x["clean_label"]) for x in marked)
    before = (out / "noisy" / "round_001" / "eval.json").read_text()
    assert main(["sweep", str(path), "--out", str(out)]) == 0  # finished points are skipped
    assert (out / "noisy" / "round_001" / "eval.json").read_text() == before
    assert main(["analyze", "sweep", str(out), "--at", "2"]) == 0
    point = json.loads((out / "analysis" / "sweep.json").read_text())["points"][0]
    assert set(point["accuracy_at"]) == {"0", "1"}
    assert set(point["minutes"]) == {"0", "1"} and 0 < point["minutes"]["0"] <= point["minutes"]["1"]
    assert point["runtime"]["precision"]["round0_train"] in ("bf16", "fp32")  # the table's precision column


def test_sweep_accuracy_against_kept_accuracy_or_an_override(sweep, capsys):
    out = sweep[1]
    assert main(["analyze", "sweep", str(out), "--at", "2", "--x", "kept_accuracy"]) == 0
    record = json.loads((out / "analysis" / "sweep.json").read_text())
    by_name = {p["name"]: p for p in record["points"]}
    rows = record["against"]["points"]
    assert [r["name"] for r in rows] == ["base", "noisy"]
    for row in rows:
        point = by_name[row["name"]]
        assert row["x"] == point["kept_accuracy"]["1"] and row["accuracy"] == point["accuracy_at"]["1"]
    noisy = [json.loads(x) for x in (out / "noisy" / "round_001" / "labels.jsonl").read_text().splitlines()]
    kept = [x for x in noisy if x["kept"]]
    assert rows[1]["x"] == pytest.approx(sum(x["correct"] for x in kept) / len(kept))
    assert main(["analyze", "sweep", str(out), "--at", "2", "--x", "rounds.noise.p", "--group", "rounds.noise.kind"]) == 0
    rows = json.loads((out / "analysis" / "sweep.json").read_text())["against"]["points"]
    assert [(r["name"], r["x"], r["group"]) for r in rows] == [("noisy", 0.5, "drop_digits")]
    assert main(["analyze", "sweep", str(out), "--at", "2", "--x", "rounds.noise.p", "--only", "b*"]) == 2
    assert "no sweep point (of those chosen) has both a number for 'rounds.noise.p'" in capsys.readouterr().err
    assert main(["analyze", "sweep", str(out), "--x", "kept_accuracy"]) == 2
    assert "give --at too" in capsys.readouterr().err


def test_sweep_lines_by_group_against_a_numeric_override():
    from selfimprove.analysis.sweep import against

    def point(name, overrides, accuracy):
        return {"name": name, "overrides": overrides, "rounds": [0, 1], "accuracy_at": {"0": 0.0, "1": accuracy},
                "kept_accuracy": {"1": 1.0}}

    points = [point("s0_base", ["seed=0", "rounds.count=0"], 0.5), point("s0_n10", ["seed=0", "rounds.problems=10"], 0.7),
              point("s1_n10", ["seed=1", "rounds.problems=10"], 0.2), point("s0_n100", ["seed=0", "rounds.problems=100"], 0.9)]
    rows = against(points, "rounds.problems", "seed", None)["points"]
    assert [(r["name"], r["x"], r["group"], r["accuracy"]) for r in rows] == [
        ("s0_n10", 10, "0", 0.7), ("s1_n10", 10, "1", 0.2), ("s0_n100", 100, "0", 0.9)]
    assert [r["accuracy"] for r in against(points, "rounds.problems", None, 0)["points"]] == [0.0, 0.0, 0.0]
    unfinished = [{**points[1], "planned": 3}, {**points[3], "planned": 1}]
    assert [r["name"] for r in against(unfinished, "rounds.problems", None, None)["points"]] == ["s0_n100"]


def test_analyze_commands_on_a_real_run(sweep):
    run = sweep[1] / "base"
    assert main(["analyze", "errors", str(run), "--eval"]) == 0
    errors = json.loads((run / "analysis" / "errors.json").read_text())
    assert errors["shown"] == {"round": 1, "source": "eval"} and errors["rounds"]["1"]["eval"]["answers"] == 16
    assert main(["analyze", "carries", str(run), "--digits", "3", "--n", "5"]) == 0
    carries = json.loads((run / "analysis" / "carries.json").read_text())
    assert set(carries["accuracy"]) == set(carries["nines"]) == {"0", "1", "2", "3"}
    assert all(0 <= v <= 1 for v in carries["nines"].values())
    for length, accuracy in carries["nines"].items():  # fed and unfed runs split the same answers
        parts = [carries[k][length] for k in ("nines_fed", "nines_unfed") if length in carries[k]]
        assert (not parts) == (length == "0") and min(parts, default=accuracy) <= accuracy <= max(parts, default=accuracy)
    assert sum(carries["training"]["0"].values()) == 300  # D0 as round 0 drew it
    assert main(["analyze", "memorised", str(run)]) == 0
    memorised = json.loads((run / "analysis" / "memorised.json").read_text())
    assert memorised["data_vs_next"][0]["round"] == 1
    for later in memorised["memorised"].values():
        for v in later.values():
            assert v["repeats_label"] + v["correct"] + v["other"] == pytest.approx(1.0)
    text = write_report(run).read_text()
    assert all(f"## {t}" in text for t in ("Error taxonomy", "Accuracy by carry-chain length", "Memorised mistakes"))


def test_rescore_scores_a_round_again_on_fresh_problems_with_intervals(sweep, capsys):
    from selfimprove.analysis.rescore import analyze_rescore

    run = sweep[1] / "base"
    own = json.loads((run / "round_001" / "eval.json").read_text())
    # On the run's own problems and n it reads exactly what the run's evaluation read.
    same = json.loads(analyze_rescore(run, 1, own["cells"][0]["n"], stream="eval").read_text())
    assert [(c["difficulty"], c["accuracy"]) for c in same["cells"]] == [(c["difficulty"], c["accuracy"]) for c in own["cells"]]
    assert main(["analyze", "rescore", str(run), "--round", "1", "--n", "40"]) == 0
    path = run / "analysis" / "rescore.json"
    record = json.loads(path.read_text())
    assert record["round"] == 1 and record["stream"] == "rescore" and (run / "analysis" / "rescore.png").exists()
    assert [c["difficulty"] for c in record["cells"]] == [c["difficulty"] for c in own["cells"]]
    for cell, theirs in zip(record["cells"], own["cells"]):
        assert cell["n"] == 40 and cell["low"] <= cell["accuracy"] <= cell["high"] and cell["run_accuracy"] == theirs["accuracy"]
        assert cell["accuracy"] * 40 == pytest.approx(round(cell["accuracy"] * 40))
    assert record["longest_surely_at_99"] is None or record["longest_surely_at_99"] <= (record["longest_at_99"] or 0)
    first = path.read_text()
    assert main(["analyze", "rescore", str(run), "--round", "1", "--n", "40"]) == 0 and path.read_text() == first
    assert "## The round scored on more problems" in write_report(run).read_text()
    assert main(["analyze", "rescore", str(run), "--n", "0"]) == 2
    assert "--n must be >= 1" in capsys.readouterr().err


def test_rescore_problems_are_not_the_evaluations():
    from selfimprove.evaluate import eval_problems

    task = get_task("reverse_addition")
    assert eval_problems(task, 6, 50, 0, "rescore") != eval_problems(task, 6, 50, 0)


def test_wilson_intervals_hold_known_values():
    from selfimprove.analysis.rescore import wilson

    assert wilson(0, 10)[0] == 0 and wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10)[1] == 1 and wilson(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)
    assert wilson(990, 1000) == pytest.approx((0.9817, 0.9946), abs=1e-4)


@pytest.mark.parametrize("points, words", [
    ([{"name": "a", "base": "b"}], "must name an earlier point"),
    ([{"name": "a", "base_round": 1}], "base_round must be a round number >= 0, with a base"),
    ([{"name": "a"}, {"name": "b", "base": "a", "base_round": -1}], "base_round must be a round number"),
    ([{"name": "a"}, {"name": "a"}], "repeated"),
    ([{"name": "analysis"}], "reserved"),
    ([{"name": "a", "overrides": ["rounds.noise={kind: bogus, p: 0.1}"]}], "kind must be one of"),
    ([], "non-empty list"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, capsys, points, words):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"config": "configs/smoke.yaml", "points": points}))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and words in err and len(err.strip().splitlines()) == 1


def test_analyze_refuses_what_does_not_apply(tmp_path, capsys):
    assert main(["analyze", "errors", str(tmp_path / "missing")]) == 2
    run = write_run(tmp_path / "run")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["task"] = {"name": "copy", "options": {}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["analyze", "carries", str(run)]) == 2
    assert "carry chains exist for" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(Path("sweeps").glob("*.yaml")), ids=str)
def test_every_committed_sweep_loads_and_its_first_line_runs_it(path):
    from selfimprove.analysis.sweep import load_sweep

    name, points = load_sweep(path)
    assert path.read_text().splitlines()[0] == f"# selfimprove sweep {path.as_posix()}"
    assert name == path.stem and len(points) >= 5


def test_chain_of_thought_and_maze_answers_are_classified():
    from selfimprove.analysis.errors import classify

    mul = get_task("multiplication")
    prompt = "9172*9431="
    right = mul.solve(mul.parse(prompt))
    pairs = [(prompt, right), (prompt, "17442+067801(132331)=13976630"), (prompt, right.replace("067801", "067811")),
             (prompt, "17442+0678")]
    out = classify(mul, pairs)
    assert (out["answers"], out["wrong"]) == (4, 3)
    assert out["steps"] == {"missing_steps": 1, "wrong_step": 1, "format": 1}
    assert out["short_share"] == pytest.approx(2 / 3)  # the wrong step keeps the length
    assert out["first_wrong_step"] == {"1": 1}

    maze = get_task("maze")
    p = maze.sample((3, 8), random.Random(0))
    path = maze.solve(p)
    nodes = path.split(">")
    pairs = [(maze.prompt(p), path), (maze.prompt(p), "x>y"), (maze.prompt(p), ">".join(nodes[:-1])),
             (maze.prompt(p), ">".join(nodes[:-1] + [nodes[0]]))]
    out = classify(maze, pairs)
    assert out["wrong"] == 3 and out["failed"]["format"] == 1 and out["failed"]["end"] == 2
    assert out["failed"]["repeat"] == 1  # the last path returns to its start: wrong end and a repeat together
    assert out["checks"] == {"format": 1, "end": 1, "moves": 1}  # verify names only the first failure
