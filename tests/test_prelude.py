"""Round 0's prelude on D0's shortest lengths (``round0.prelude``): what it trains on, that it is
exactly a short run followed by a warm start, and that a run killed in it resumes to the same model."""

import json
from pathlib import Path

import pytest
from run_records import crashing
from safetensors.torch import load_file

from selfimprove import round0, rounds
from selfimprove.config import ConfigError, load_config
from selfimprove.prelude import Prelude
from selfimprove.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
# The smoke config's D0 is 1-3 digits and its round 0 60 steps; the prelude takes 1-2 digits for 20 steps.
PRELUDE = ["rounds.count=0", "round0.train.checkpoint_every=5",
           "round0.prelude={high: 2, steps: 20, batch_size: 8, warmup_steps: 2, decay_steps: 5}"]


def _weights(run: Path, folder: str = "checkpoint") -> dict:
    return load_file(run / "round_000" / folder / "model.safetensors")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def _run(path: Path, overrides: list[str], log=None) -> Path:
    rounds.run_rounds(load_config(SMOKE, overrides), path, log=log or (lambda line: None))
    return path


def test_the_prelude_takes_its_own_schedule_and_round0s_other_settings():
    r0 = TrainConfig(steps=100, batch_size=128, lr=0.002, warmup_steps=10, decay_steps=50, weight_decay=0.3,
                     bucket=8, precision="fp32", checkpoint_every=7)
    train = Prelude(high=4, steps=40, batch_size=16, warmup_steps=4, decay_steps=20).train(r0)
    assert (train.steps, train.batch_size, train.lr, train.warmup_steps, train.decay_steps) == (40, 16, 0.002, 4, 20)
    assert (train.weight_decay, train.bucket, train.precision, train.checkpoint_every) == (0.3, 8, "fp32", 7)
    assert Prelude(high=4, lr=0.005).train(r0).lr == 0.005


def test_the_prelude_is_a_short_run_on_part_of_d0_then_a_warm_start(tmp_path):
    lines = []
    whole = _run(tmp_path / "prelude", PRELUDE, lines.append)
    # the same two stages as two runs: D0 cut at 2 digits with the prelude's schedule, then the
    # smoke round 0 from that model's weights with a fresh optimizer
    short = _run(tmp_path / "short", ["rounds.count=0", "round0.train.checkpoint_every=5", "round0.high=2",
                                      "round0.train.steps=20", "round0.train.batch_size=8",
                                      "round0.train.warmup_steps=2", "round0.train.decay_steps=5"])
    after = _run(tmp_path / "after", ["rounds.count=0", "round0.train.checkpoint_every=5",
                                      f"model.init_from={short}"])
    assert _same(_weights(whole, "prelude/checkpoint"), _weights(short))
    assert _same(_weights(whole), _weights(after))
    assert not _same(_weights(whole), _weights(_run(tmp_path / "plain", ["rounds.count=0"])))
    assert any("prelude on 1–2 done (20 steps at batch 8)" in line for line in lines)


@pytest.mark.parametrize("stage, step", [("prelude", 10), ("prelude", 20), ("round 0", 0)])
def test_a_run_killed_in_or_after_the_prelude_resumes_to_the_same_model(tmp_path, monkeypatch, stage, step):
    whole = _weights(_run(tmp_path / "whole", PRELUDE))
    real = round0.train_steps
    monkeypatch.setattr(round0, "train_steps",
                        crashing(real, lambda desc: desc.startswith("prelude") == (stage == "prelude"), step))
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "crashed", PRELUDE)
    assert not (tmp_path / "crashed" / "round_000" / "checkpoint").exists()  # killed before round 0 proper saved
    monkeypatch.setattr(round0, "train_steps", real)
    assert _same(_weights(_run(tmp_path / "crashed", PRELUDE)), whole)


@pytest.mark.parametrize("prelude, words", [
    ("{high: 3}", "below round0.high"),
    ("{high: 0}", "round0.prelude.high"),
    ("{steps: 10}", "round0.prelude needs high"),
    ("{high: 2, steps: 10, warmup_steps: 5, decay_steps: 6}", "must fit in prelude.steps"),
    ("{high: 2, batch_size: 0}", "batch_size"),
])
def test_a_malformed_prelude_is_a_config_error_naming_it(prelude, words):
    with pytest.raises(ConfigError, match=words):
        load_config(SMOKE, [f"round0.prelude={prelude}"])


def test_toy_scale_shrinks_the_prelude_too():
    cfg = load_config(ROOT / "configs" / "demo.yaml",
                      ["scale=tiny", "round0.prelude={high: 4, steps: 7200, batch_size: 32, decay_steps: 3600}"])
    pre = cfg.round0.prelude
    assert (pre.high, pre.steps, pre.batch_size) == (4, 12, 16) and pre.warmup_steps + pre.decay_steps <= pre.steps


def test_with_cycles_the_prelude_cycles_until_its_own_range_is_mastered(tmp_path, monkeypatch):
    asked = []

    def check(run, m, n, cycle, r0=None):
        asked.append((r0.high, cycle))
        if r0.high == 2:  # the prelude's range: mastered only in its second cycle
            return {"1": 1.0, "2": 0.5 if cycle == 0 else 1.0}
        return {"1": 1.0, "2": 1.0, "3": 1.0}

    monkeypatch.setattr(round0, "d0_accuracy", check)
    cycles = ["round0.cycles.max=2", "round0.cycles.steps=10", "round0.cycles.warmup_steps=2",
              "round0.cycles.decay_steps=4", "round0.cycles.check_problems=8"]
    lines = []
    run = _run(tmp_path / "cycled", PRELUDE + cycles, lines.append)
    prelude = json.loads((run / "round_000" / "prelude" / "cycles.json").read_text())
    assert [(c["step"], c["mastered"]) for c in prelude] == [(20, False), (30, True)]
    assert asked == [(2, 0), (2, 1), (3, 0)]  # then round 0 proper, checked on all of D0 and mastered
    assert any("prelude on 1–2 done (30 steps at batch 8)" in line for line in lines)
    assert any("the prelude's weakest level 2 at 50.0%" in line for line in lines)
