"""The prelude as k stacked candidates (``round0.prelude.candidates``): candidate 0 is the plain
prelude, the first mastered candidate is the one round 0 goes on from, and a run killed anywhere in
the prelude resumes to the same choice and weights."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from selfimprove import candidates, round0, rounds
from selfimprove.candidates import candidate_seed, choose
from selfimprove.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
# The smoke config's D0 is 1-3 digits; the prelude takes 1-2 digits for 20 steps, checked at its end and
# after each of up to two 10-step cycles. fp32: stacked and separate products then agree to rounding.
CYCLES = ["round0.cycles={max: 2, steps: 10, warmup_steps: 2, decay_steps: 4, check_problems: 8}"]
BASE = ["rounds.count=0", "round0.train.checkpoint_every=5", "round0.train.precision=fp32", "eval.precision=fp32",
        "round0.prelude={high: 2, steps: 20, batch_size: 8, warmup_steps: 2, decay_steps: 5}"] + CYCLES
TWO = BASE + ["round0.prelude.candidates=2"]


def _run(path: Path, overrides: list[str], log=None) -> Path:
    rounds.run_rounds(load_config(SMOKE, overrides), path, log=log or (lambda line: None))
    return path


def _weights(run: Path, folder: str) -> dict:
    return load_file(run / "round_000" / folder / "model.safetensors")


def _checks(run: Path) -> list:
    return json.loads((run / "round_000" / "prelude" / "cycles.json").read_text())


def _prelude_ends(monkeypatch) -> list:
    """Record model 0's weights as round 0 proper starts from them (after the prelude)."""
    starts, real = [], round0.train_in_cycles

    def spy(run, m, *args, **kwargs):
        if not starts:
            starts.append({n: p.detach().clone() for n, p in run.models[m].named_parameters()})
        return real(run, m, *args, **kwargs)

    monkeypatch.setattr(round0, "train_in_cycles", spy)
    return starts


def test_candidate_zero_is_the_plain_prelude(tmp_path, monkeypatch):
    everyone = lambda run, m, n, cycle, r0=None, model=None: {"1": 1.0, "2": 1.0}
    monkeypatch.setattr(candidates, "d0_accuracy", everyone)
    monkeypatch.setattr(round0, "d0_accuracy", everyone)
    plain = _weights(_run(tmp_path / "plain", BASE), "prelude/checkpoint")
    stacked = _weights(_run(tmp_path / "two", TWO), "prelude/checkpoint")
    assert stacked.keys() == plain.keys()
    for name, weight in plain.items():
        assert stacked[name].shape == (2, *weight.shape)
        torch.testing.assert_close(stacked[name][0], weight, rtol=1e-4, atol=1e-5, msg=name)
    # candidate 1 is another draw (its own initial weights and batches)
    assert any(not torch.allclose(stacked[n][1], w, atol=1e-3) for n, w in plain.items())


def test_round0_goes_on_from_the_first_candidate_that_masters(tmp_path, monkeypatch):
    asked = []

    def check(run, m, n, cycle, r0=None, model=None):
        j = 0 if model is run.models[m] else 1
        asked.append((cycle, j))
        return {"1": 1.0, "2": 1.0 if (j == 1 and cycle == 1) else 0.5}  # candidate 1 masters at cycle 1

    monkeypatch.setattr(candidates, "d0_accuracy", check)
    monkeypatch.setattr(round0, "d0_accuracy", lambda *a, **k: {"1": 1.0, "2": 1.0, "3": 1.0})
    starts, lines = _prelude_ends(monkeypatch), []
    run = _run(tmp_path / "two", TWO, lines.append)
    assert asked == [(0, 0), (0, 1), (1, 0), (1, 1)]  # no second cycle: candidate 1 mastered in the first
    assert [(c["step"], c["mastered"]) for c in _checks(run)] == [(20, [False, False]), (30, [False, True])]
    stacked = _weights(run, "prelude/checkpoint")
    for name, weight in starts[0].items():
        assert torch.equal(weight, stacked[name][1]), name
    assert any("(30 steps at batch 8, 2 candidates): candidate 1 goes on" in line for line in lines)
    assert any("weakest level per candidate 50.0%, 50.0% < 99%: cycle 1 of 2" in line for line in lines)


def test_with_none_mastered_the_best_weakest_level_goes_on():
    assert choose({"mastered": [False, True, True], "accuracy": []}) == 1
    assert choose({"mastered": [False, False, False],
                   "accuracy": [{"1": 1.0, "2": 0.2}, {"1": 0.6, "2": 0.7}, {"1": 0.9, "2": 0.7}]}) == 2
    assert candidate_seed(7, 0) == 7 and len({candidate_seed(7, j) for j in range(1, 5)}) == 4


@pytest.mark.parametrize("kill_at", [2, 4, 5])  # checkpoints every 5 steps: steps 10, 20 (the end), 25 (cycle 1)
def test_a_run_killed_in_the_stacked_prelude_resumes_to_the_same_model(tmp_path, monkeypatch, kill_at):
    whole = _run(tmp_path / "whole", TWO)
    assert len(_checks(whole)) == 3  # nothing masters 1-2 digits in 40 steps: every cycle runs and is checked
    real, saved = candidates.stacked_train_steps, []

    def crashing(*args, **kwargs):
        save = args[7]

        def checkpoint(s):
            save(s)
            saved.append(s)
            if len(saved) == kill_at:
                raise KeyboardInterrupt("simulated crash")
        return real(*args[:7], checkpoint, *args[8:], **kwargs)

    monkeypatch.setattr(candidates, "stacked_train_steps", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "crashed", TWO)
    monkeypatch.setattr(candidates, "stacked_train_steps", real)
    crashed = _run(tmp_path / "crashed", TWO)
    assert _checks(crashed) == _checks(whole)
    for folder in ("prelude/checkpoint", "checkpoint"):
        a, b = _weights(crashed, folder), _weights(whole, folder)
        assert all(torch.equal(a[n], b[n]) for n in b), folder


@pytest.mark.parametrize("overrides, words", [
    (["round0.cycles=null"], "needs round0.cycles"),
    (["round0.train.grad_ema_gain=1.0"], "one stacked native model"),
    (["round0.prelude.candidates=0"], "candidates >= 1"),
])
def test_candidates_the_run_cannot_train_are_a_config_error(overrides, words):
    with pytest.raises(ConfigError, match=words):
        load_config(SMOKE, TWO + overrides)
