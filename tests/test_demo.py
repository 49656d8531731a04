"""The demo config, shortened to seconds, runs through the CLI and leaves a report behind."""

import json
from pathlib import Path

from selfimprove.cli import main

ROOT = Path(__file__).resolve().parents[1]

SHORT = [
    "model.n_layer=1", "model.n_embd=32", "model.n_head=2", "model.mlp_hidden=64",
    "round0.examples=2000", "round0.train.steps=40", "round0.train.warmup_steps=5", "round0.train.decay_steps=10",
    # a 40-step model never masters 1-8 digits, so round 0 runs both of its extra cycles: keep them short
    "round0.cycles.steps=10", "round0.cycles.warmup_steps=2", "round0.cycles.decay_steps=5", "round0.cycles.check_problems=8",
    "rounds.count=2", "rounds.problems=48", "rounds.train.steps=10", "rounds.train.decay_steps=5",
    "eval.high=11", "eval.n=8",
    # A barely trained model can answer every twin identically (e.g. all zeros) and so pass the
    # agreement probe at any length; the cap keeps the probe of such a model short.
    "rounds.schedule.max_new=2", "rounds.probe_problems=16", "rounds.relabel.problems=16",
]


def test_shortened_demo_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["run", str(ROOT / "configs" / "demo.yaml"), *SHORT, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-2] == f"report: {out / 'report.md'}"
    assert "round 0 trained on 1–8" in printed[-1] and "rounds done: 3" in printed[-1]
    # checked after round 0's schedule and after cycle 1, not mastered either time; cycle 2 is the last
    checks = json.loads((out / "round_000" / "cycles.json").read_text())
    assert [(c["step"], c["mastered"]) for c in checks] == [(40, False), (50, False)]
    assert json.loads((out / "round_000" / "eval.json").read_text())["step"] == 60
    report = (out / "report.md").read_text()
    for r in range(3):
        assert f"| {r} |" in report
    for name in ("accuracy.png", "rounds.png"):
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", str(out)]) == 0


def test_overrides_may_follow_options(tmp_path, capsys):
    # The override after --out reaches the config loader (whose one-line error names the key)
    # instead of being refused by argparse as an unrecognized argument.
    config = str(ROOT / "configs" / "demo.yaml")
    assert main(["run", config, "--out", str(tmp_path / "x"), "round0.no_such_key=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no_such_key" in err and "unrecognized" not in err
    assert main(["run", config, "--out", str(tmp_path / "x"), "--no-such-option"]) == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
