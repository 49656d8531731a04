"""scripts/round0_curve.py trains round 0 exactly as a run does: its last line is the run's round-0 evaluation."""

import json
from pathlib import Path

from selfimprove.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["round0.high=2", "round0.train.steps=200", "round0.train.lr=0.01", "eval.high=3", "eval.n=32", "rounds.count=0"]


def test_curve_ends_where_the_runs_round0_ends(tmp_path, capsys, load_script):
    config = str(ROOT / "configs" / "smoke.yaml")
    assert load_script("round0_curve").main([config, "--every", "100", *TINY]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["step"] for x in lines] == [100, 200]
    assert cli_main(["run", config, *TINY, "--out", str(tmp_path / "run")]) == 0
    cells = json.loads((tmp_path / "run" / "round_000" / "eval.json").read_text())["cells"]
    assert {str(c["difficulty"]): c["accuracy"] for c in cells} == {k: v for k, v in lines[-1].items() if k.isdigit()}
    assert any(c["accuracy"] > 0 for c in cells)  # a comparison of all-zero rows would prove nothing


def test_a_bad_override_is_one_line(capsys, load_script):
    assert load_script("round0_curve").main([str(ROOT / "configs" / "smoke.yaml"), "round0.nope=1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
