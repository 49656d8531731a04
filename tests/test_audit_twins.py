"""scripts/audit_twins.py re-checks a finished round's labels with shifted twins."""

import json
from pathlib import Path

from selfimprove.config import load_config
from selfimprove.rounds import run_rounds

ROOT = Path(__file__).resolve().parents[1]


def test_the_audit_reproduces_the_runs_filter_and_adds_shifted_twins(tmp_path, capsys, load_script):
    overrides = ["rounds.count=1", "rounds.filters=[{kind: consistency}]", "round0.train.steps=200",
                 "round0.train.lr=0.01", "rounds.train.steps=15", "rounds.problems=48"]
    run_rounds(load_config(ROOT / "configs" / "smoke.yaml", overrides), tmp_path, log=lambda line: None)
    stats = json.loads((tmp_path / "round_001" / "filter_stats.json").read_text())
    assert load_script("audit_twins").main([str(tmp_path), "1", "--shifts", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line[:44].strip(): line[44:].split() for line in out[2:] if "%" in line[44:]}
    as_run = rows["as the run filtered"]
    assert as_run[0] == f"{100 * stats['kept'] / stats['labelled']:.2f}%"
    if stats["kept"]:
        assert as_run[1] == f"{100 * stats['kept_accuracy']:.2f}%"
    kept = [float(rows[name][0].rstrip("%")) for name in
            ("as the run filtered", "as the run + 1 shifted twin(s)", "as the run + 2 shifted twin(s)")]
    assert kept[0] >= kept[1] >= kept[2]  # each twin can only drop labels
    assert "2 shifted twin(s) alone" in rows


def test_a_missing_round_is_one_line(tmp_path, capsys, load_script):
    assert load_script("audit_twins").main([str(tmp_path), "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
