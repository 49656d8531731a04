"""Round 0 in warmup-stable-decay cycles until D0 is mastered (``round0.cycles``)."""

import json
from pathlib import Path

import pytest
from run_records import crashing, losses
from safetensors.torch import load_file

from selfimprove import round0, rounds
from selfimprove.config import ConfigError, load_config
from selfimprove.cycles import Cycles, mastered, round0_cycles
from selfimprove.train import TrainConfig, lr_at

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
# The smoke config's round 0 is 60 steps; each cycle 20 (4 warm-up, 8 decay), at most 2.
CYCLES = ["rounds.count=0", "round0.cycles.max=2", "round0.cycles.steps=20", "round0.cycles.warmup_steps=4",
          "round0.cycles.decay_steps=8", "round0.cycles.check_problems=8"]


def test_cycles_follow_round0s_schedule_each_rewarming_to_its_peak():
    train = TrainConfig(steps=100, lr=3e-3, warmup_steps=10, decay_steps=50)
    cycles = round0_cycles(train, Cycles(max=2, steps=40, warmup_steps=5, decay_steps=20))
    assert [(c.index, c.offset, c.end) for c in cycles] == [(0, 0, 100), (1, 100, 140), (2, 140, 180)]
    assert cycles[0].train == train
    again = cycles[1].train
    assert (again.steps, again.warmup_steps, again.decay_steps, again.lr) == (40, 5, 20, 3e-3)
    assert lr_at(99, train) == pytest.approx(3e-5)  # round 0 ends decayed ...
    assert lr_at(0, again) == pytest.approx(3e-3 / 5) and lr_at(19, again) == 3e-3  # ... a cycle warms up again
    assert lr_at(39, again) == pytest.approx(3e-5)
    assert round0_cycles(train, None) == cycles[:1]


def test_mastery_means_every_level_of_d0():
    c = Cycles(mastery=0.99)
    assert mastered({"1": 1.0, "2": 0.99}, c)
    assert not mastered({"1": 1.0, "2": 0.985, "3": 1.0}, c)


@pytest.mark.parametrize("override", ["round0.cycles.max=0", "round0.cycles.steps=10", "round0.cycles.mastery=0",
                                      "round0.cycles.mastery=1.5", "round0.cycles.stesp=3"])
def test_a_malformed_cycles_section_is_a_config_error_naming_it(override):
    with pytest.raises(ConfigError, match="cycles"):
        load_config(SMOKE, ["round0.cycles.warmup_steps=5", "round0.cycles.decay_steps=10", override])


def test_cycles_and_a_curriculum_cannot_be_combined():
    with pytest.raises(ConfigError, match="cycles and round0.curriculum"):
        load_config(SMOKE, ["round0.cycles.max=1", "round0.curriculum.start=1"])


def _run(tmp_path, name, overrides, monkeypatch=None, accuracy=None):
    """A smoke run's round 0; with ``accuracy(cycle)``, the D0 check answers that instead of the model."""
    if accuracy is not None:
        monkeypatch.setattr(round0, "d0_accuracy", lambda run, m, n, cycle, r0=None: accuracy(cycle))
    lines = []
    rounds.run_rounds(load_config(SMOKE, overrides), tmp_path / name, log=lines.append)
    folder = tmp_path / name / "round_000"
    checks = json.loads((folder / "cycles.json").read_text()) if (folder / "cycles.json").exists() else None
    return json.loads((folder / "eval.json").read_text()), checks, load_file(folder / "checkpoint" / "model.safetensors"), lines


def test_a_run_that_never_masters_d0_runs_every_cycle_and_records_each_check(tmp_path, monkeypatch):
    record, checks, _, lines = _run(tmp_path, "never", CYCLES, monkeypatch, lambda cycle: {"1": 1.0, "2": 0.5, "3": 0.0})
    assert record["step"] == 60 + 2 * 20
    assert [(c["cycle"], c["step"], c["mastered"]) for c in checks] == [(0, 60, False), (1, 80, False)]
    assert any("D0's weakest level 3 at 0.0%" in line and "cycle 1 of 2" in line for line in lines)


def test_a_run_that_masters_d0_stops_and_equals_the_same_run_without_cycles(tmp_path, monkeypatch):
    record, checks, weights, lines = _run(tmp_path, "first", CYCLES, monkeypatch, lambda cycle: {"1": 1.0, "2": 1.0, "3": 1.0})
    assert record["step"] == 60 and checks == [{"cycle": 0, "step": 60, "accuracy": {"1": 1.0, "2": 1.0, "3": 1.0},
                                                "mastered": True}]
    assert any("mastered" in line for line in lines)
    plain_record, no_checks, plain, _ = _run(tmp_path, "plain", ["rounds.count=0"])
    assert no_checks is None and plain_record["cells"] == record["cells"]
    assert all((weights[k] == plain[k]).all() for k in plain)  # cycles change nothing for a run that masters D0


def test_a_run_that_masters_d0_in_a_later_cycle_stops_there(tmp_path, monkeypatch):
    record, checks, _, _ = _run(tmp_path, "second", CYCLES, monkeypatch,
                                lambda cycle: {"1": 1.0, "2": 1.0, "3": 0.9 if cycle == 0 else 1.0})
    assert record["step"] == 80 and [c["mastered"] for c in checks] == [False, True]


def test_the_check_scores_every_cell_of_d0_on_the_model_itself(tmp_path):
    _, checks, _, _ = _run(tmp_path, "real", [*CYCLES, "round0.cycles.max=1"])
    assert checks[0]["step"] == 60 and list(checks[0]["accuracy"]) == ["1", "2", "3"]
    assert all(0 <= a <= 1 and a * 8 == int(a * 8) for a in checks[0]["accuracy"].values())  # 8 problems a cell
    assert checks[0]["mastered"] == (min(checks[0]["accuracy"].values()) >= 0.99)


@pytest.mark.parametrize("cycle, local", [
    (1, 10),  # inside cycle 1 (global step 70)
    (1, 20),  # at the end of cycle 1, before its check
    (2, 0),  # after cycle 1's check was written, before cycle 2 trained a step
])
def test_a_cycling_round0_killed_and_rerun_ends_as_the_uninterrupted_one(tmp_path, monkeypatch, cycle, local):
    overrides = [*CYCLES, "round0.train.checkpoint_every=10"]
    never = lambda c: {"1": 1.0, "2": 0.5, "3": 0.0}
    whole, whole_checks, whole_weights, _ = _run(tmp_path, "whole", overrides, monkeypatch, never)
    real = round0.train_steps
    monkeypatch.setattr(round0, "train_steps", crashing(real, lambda desc: desc.endswith(f"cycle {cycle}"), local))
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "crashed", overrides)
    folder = tmp_path / "crashed" / "round_000"
    assert json.loads((folder / "checkpoint" / "state.json").read_text())["step"] == 60 + 20 * (cycle - 1) + local
    assert len(json.loads((folder / "cycles.json").read_text())) == cycle
    monkeypatch.setattr(round0, "train_steps", real)
    record, checks, weights, _ = _run(tmp_path, "crashed", overrides)
    assert record["step"] == whole["step"] == 100 and checks == whole_checks
    assert all((weights[k] == whole_weights[k]).all() for k in whole_weights)
    kept = losses(tmp_path / "crashed")["round_000"]
    assert kept == losses(tmp_path / "whole")["round_000"] and [s for s, _ in kept[0]] == list(range(100))
