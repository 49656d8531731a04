"""Round 0's length curriculum: which levels each step draws from, and a run that uses one."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from run_records import crashing
from safetensors.torch import load_file

from selfimprove.cli import main
from selfimprove.config import ConfigError, load_config
from selfimprove.curriculum import Curriculum, CurriculumBatches, level_of
from selfimprove.data import BatchPlan
from selfimprove.run import Run, build_models, round0_batches

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


def test_levels_open_one_at_a_time_and_the_frontier_takes_its_share():
    c = Curriculum(start=2, steps_per_level=500, frontier_fraction=0.5)
    np.testing.assert_allclose(c.level_weights(0, 8), [0.5, 0.5, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(c.level_weights(499, 8), [0.5, 0.5, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(c.level_weights(500, 8), [0.25, 0.25, 0.5, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(c.level_weights(3000, 8), [0.5 / 7] * 7 + [0.5])
    np.testing.assert_allclose(c.level_weights(10**6, 8), [0.5 / 7] * 7 + [0.5])
    np.testing.assert_allclose(Curriculum(start=1).level_weights(0, 3), [1, 0, 0])
    assert level_of(7) == 7 and level_of((2, 5)) == 5


@pytest.mark.parametrize("override", ["round0.curriculum.start=0", "round0.curriculum.steps_per_level=0",
                                      "round0.curriculum.frontier_fraction=1.5", "round0.curriculum.stpes=3"])
def test_a_malformed_curriculum_is_a_config_error_naming_it(override):
    with pytest.raises(ConfigError, match="curriculum"):
        load_config(SMOKE, [override])


def _levels(run, x):
    """The difficulty of each row of a batch, read back from its prompt."""
    rows = []
    for row in x.tolist():
        text = run.tok.decode([t for t in row if t not in (run.tok.bos_id, run.tok.pad_id)])
        rows.append(run.task.difficulty(run.task.parse(text[: text.index("=") + 1])))
    return rows


def test_round0_batches_draw_only_open_levels_and_the_frontier_share():
    cfg = load_config(SMOKE, ["round0.low=1", "round0.high=4", "round0.examples=4000",
                              "round0.curriculum.start=1", "round0.curriculum.steps_per_level=100",
                              "round0.curriculum.frontier_fraction=0.5"])
    run = Run(cfg, torch.device("cpu"))
    build_models(run)
    batches = round0_batches(run, 0, BatchPlan(run.order_seed(0), 0, 128, bucket=4))
    assert set(_levels(run, batches(0)[0])) == {1}
    second = [level for step in range(148, 152) for level in _levels(run, batches(step)[0])]  # one bucket
    assert second.count(1) == second.count(2) == 256
    third = [level for step in range(200, 204) for level in _levels(run, batches(step)[0])]  # one bucket
    assert set(third) == {1, 2, 3} and third.count(3) == 256 and third.count(1) == third.count(2) == 128
    late = [level for step in range(10_000, 10_004) for level in _levels(run, batches(step)[0])]
    assert late.count(4) == 256 and set(late) == {1, 2, 3, 4}
    (x1, y1), (x2, y2) = batches(201), batches(201)
    assert (x1 == x2).all() and (y1 == y2).all()  # a pure function of the step: a resume draws the same


def test_a_run_with_a_curriculum_differs_from_one_without_and_repeats_itself(tmp_path):
    overrides = ["rounds.count=0", "round0.curriculum.start=1", "round0.curriculum.steps_per_level=20"]
    for name in ("a", "b"):
        assert main(["run", str(SMOKE), "--out", str(tmp_path / name), *overrides]) == 0
    assert main(["run", str(SMOKE), "--out", str(tmp_path / "plain"), "rounds.count=0"]) == 0
    cells = {n: json.loads((tmp_path / n / "round_000" / "eval.json").read_text())["cells"] for n in ("a", "b", "plain")}
    assert cells["a"] == cells["b"]
    saved = load_config(tmp_path / "a" / "config.yaml")
    assert saved.round0.curriculum == Curriculum(start=1, steps_per_level=20)
    weights = {n: load_file(next((tmp_path / n / "round_000" / "checkpoint").glob("*model*.safetensors")))
               for n in ("a", "b", "plain")}
    assert all((weights["a"][k] == weights["b"][k]).all() for k in weights["a"])
    assert any((weights["a"][k] != weights["plain"][k]).any() for k in weights["a"])


def _batches(accuracies, check_every=10, levels=4):
    cur = Curriculum(start=1, pace="mastery", check_every=check_every, mastery=0.9)
    cfg = load_config(SMOKE, ["round0.high=4", "round0.examples=400", "round0.curriculum.start=1"])
    run = Run(cfg, torch.device("cpu"))
    build_models(run)
    asked = []

    def accuracy(i):
        asked.append(i)
        return accuracies(i, len(asked))

    return CurriculumBatches(cur, run.d0_levels[0], BatchPlan(0, 0, 16, bucket=1), run.tok.pad_id, accuracy), asked


def test_mastery_opens_the_next_level_only_when_the_frontier_is_learnt():
    never, asked = _batches(lambda i, n: 0.5)
    for step in range(45):
        never(step)
    assert never.opened == [] and asked == [0, 0, 0, 0]  # checked at 10, 20, 30, 40: level 0 not learnt
    learnt, asked = _batches(lambda i, n: 1.0 if n % 2 == 0 else 0.0)  # every second check passes
    for step in range(101):
        learnt(step)
    assert learnt.opened == [20, 40, 60] and asked == [0, 0, 1, 1, 2, 2]  # all 4 open: no more checks
    assert learnt.curriculum.open_levels(59, 4, learnt.opened) == 3
    again, _ = _batches(lambda i, n: 1.0)
    again.restore(learnt.state())
    assert again.opened == [20, 40, 60]


def test_a_mastery_round0_resumed_after_a_crash_opens_the_same_levels(tmp_path, monkeypatch):
    from selfimprove import round0, rounds
    from selfimprove import run as run_module

    # Every check passes (a real model this small learns nothing in 60 steps): what is tested is that
    # the opening steps survive the crash, not when a model masters a level.
    monkeypatch.setattr(run_module, "frontier_accuracy", lambda run, m: lambda i: 1.0)
    overrides = ["rounds.count=0", "round0.curriculum.pace=mastery", "round0.curriculum.check_every=16"]
    cfg = load_config(SMOKE, overrides)
    rounds.run_rounds(cfg, tmp_path / "whole", log=lambda line: None)
    real = round0.train_steps
    monkeypatch.setattr(round0, "train_steps", crashing(real, lambda desc: True, 25))
    with pytest.raises(KeyboardInterrupt):
        rounds.run_rounds(cfg, tmp_path / "crashed", log=lambda line: None)
    state = json.loads((tmp_path / "crashed" / "round_000" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 25 and state["curriculum"] == {"opened": [16]}
    monkeypatch.setattr(round0, "train_steps", real)
    rounds.run_rounds(cfg, tmp_path / "crashed", log=lambda line: None)
    final = json.loads((tmp_path / "crashed" / "round_000" / "checkpoint" / "state.json").read_text())
    assert final["curriculum"] == {"opened": [16, 32]}
    whole, resumed = (load_file(tmp_path / n / "round_000" / "checkpoint" / "model.safetensors") for n in ("whole", "crashed"))
    assert all((whole[k] == resumed[k]).all() for k in whole)


def test_mastery_checks_must_fall_where_a_bucket_starts():
    with pytest.raises(ConfigError, match="multiple of round0.train.bucket"):
        load_config(SMOKE, ["round0.curriculum.pace=mastery", "round0.curriculum.check_every=250", "round0.train.bucket=8"])
    with pytest.raises(ConfigError, match="pace"):
        load_config(SMOKE, ["round0.curriculum.pace=sometimes"])
