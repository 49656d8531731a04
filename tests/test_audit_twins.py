"""scripts/audit_twins.py re-checks a finished round's labels with shifted twins."""

import json
import random
from pathlib import Path

import pytest

from selfimprove.config import load_config
from selfimprove.rounds import run_rounds
from selfimprove.tasks import get_task

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
            ("as the run filtered", "as the run + 1 shift(s)", "as the run + 2 shift(s)")]
    assert kept[0] >= kept[1] >= kept[2]  # each twin can only drop labels
    assert "2 shift(s) alone" in rows
    assert load_script("audit_twins").main([str(tmp_path), "1", "--shifts", "1", "--cuts", "1"]) == 0
    rows = {line[:44].strip(): line[44:].split() for line in capsys.readouterr().out.splitlines()[2:]
            if "%" in line[44:]}
    with_cut = float(rows["as the run + 1 shift(s) + 1 cut(s)"][0].rstrip("%"))
    assert with_cut <= float(rows["as the run + 1 shift(s)"][0].rstrip("%")) and "1 cut(s) alone" in rows
    for name, (kept, correct, wrong) in rows.items():  # wrong kept = kept labels x (1 - correct)
        assert abs(int(wrong) - 48 * float(kept[:-1]) / 100 * (1 - float(correct[:-1]) / 100)) < 0.6, name
    assert load_script("audit_twins").main([str(tmp_path), "1", "--shifts", "0", "--cuts", "1", "--splits", "1"]) == 0
    rows = {line[:44].strip(): line[44:].split() for line in capsys.readouterr().out.splitlines()[2:]
            if "%" in line[44:]}
    both = float(rows["as the run + 1 cut(s) + 1 split(s)"][0].rstrip("%"))
    assert both <= min(float(rows[name][0].rstrip("%")) for name in ("1 cut(s) alone", "1 split(s) alone"))


def test_cut_twins_on_a_task_without_them_is_one_line(tmp_path, capsys, load_script):
    (tmp_path / "config.yaml").write_text((ROOT / "configs" / "cpu" / "copy.yaml").read_text())
    (tmp_path / "round_001").mkdir()
    (tmp_path / "round_001" / "labels.jsonl").write_text("")
    assert load_script("audit_twins").main([str(tmp_path), "1", "--shifts", "0", "--cuts", "1"]) == 2
    err = capsys.readouterr().err
    assert "no cut twins" in err and err.count("\n") == 1


@pytest.mark.parametrize("name, label, twins_per_shift", [("copy", "12345", 2), ("reverse_addition", "7530", 1)])
def test_a_shift_is_every_shifted_twin_the_task_draws_once(load_script, name, label, twins_per_shift):
    """Copy's shift is a split whose two halves must both agree; addition's is one shifted sum. A
    wrong first or last character fails every shift of copy, since every split covers both ends."""
    audit, task = load_script("audit_twins"), get_task(name)
    problem = task.parse("12345=" if name == "copy" else "21+543=")
    asked = []

    def oracle(problems):
        asked.extend(problems)
        return [task.solve(p) for p in problems]

    wrong = [("9" + label[1:], "first"), (label[:-1] + "9", "last")]
    agree = audit.shifted_agreement(task, [(problem, label)] + [(problem, w) for w, _ in wrong], random.Random(0), 3, oracle)
    assert len(asked) == 3 * 3 * twins_per_shift
    assert agree[0] == [True] * 3 and agree[1:] == [[False] * 3] * 2


def test_a_split_asks_two_questions_and_rejects_a_wrong_carry_into_the_top_part(load_script):
    audit, task = load_script("audit_twins"), get_task("reverse_addition")
    problem = task.parse("4321+8765=")  # 1234 + 5678 = 6912; split at k = 1 or 2
    asked = []

    def oracle(problems):
        asked.extend(problems)
        return [task.solve(p) for p in problems]

    wrong = [task.write_total(problem, 6912 + 10), task.write_total(problem, 6912 - 100)]
    agree = audit.shifted_agreement(task, [(problem, "21960")] + [(problem, w) for w in wrong], random.Random(0), 0,
                                    oracle, cuts=0, splits=2)
    assert len(asked) == 3 * 2 * 2  # three labels, two splits, two questions each
    assert agree[0] == [True, True] and agree[1:] == [[False, False]] * 2  # answered right, a split fixes every digit


def test_a_missing_round_is_one_line(tmp_path, capsys, load_script):
    assert load_script("audit_twins").main([str(tmp_path), "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
