"""rounds.stacked: a round's k vote models label, probe, are evaluated and train as one stacked model,
with the numbers of k models taken one after another, and a killed run resumes to the same weights."""

import json
from pathlib import Path

import pytest
import torch
from run_records import evals, losses
from safetensors.torch import load_file

from selfimprove import ensemble, stacked_rounds
from selfimprove.config import load_config
from selfimprove.rounds import run_rounds
from selfimprove.stacked_rounds import same_bias_corrections
from selfimprove.train import TrainConfig

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
# fp32, so that the stacked and the separate products agree to the bits greedy decoding can see
VOTE = ["rounds.count=2", "rounds.models=3", "rounds.filters=[{kind: majority, tau: 0.6}]",
        "rounds.schedule={kind: label_free_accelerated, threshold: 0.5}", "rounds.train.precision=fp32",
        "round0.train.precision=fp32", "eval.precision=fp32", "round0.train.steps=40", "rounds.train.steps=15",
        "rounds.problems=40", "rounds.lr_decay=0.5"]  # round 2 at half the peak: the stacked path must decay it too


def config(stacked: bool):
    return load_config(SMOKE, [*VOTE, f"rounds.stacked={str(stacked).lower()}"])


def weights(run_dir: Path, r: int, m: int) -> dict:
    return load_file(run_dir / f"round_{r:03d}" / f"m{m}_checkpoint" / "model.safetensors")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """The same vote run with the models stacked and one after another, and how often each stacked."""
    out, counts = {}, {}
    real_stack, real_train = ensemble.stack, stacked_rounds.stacked_train_steps
    for stacked in (True, False):
        seen = {"stack": 0, "train": 0}

        def counting_stack(models, seen=seen):
            seen["stack"] += 1
            return real_stack(models)

        def counting_train(*args, seen=seen, **kwargs):
            seen["train"] += 1
            seen.setdefault("peaks", []).append(args[2].lr)  # (stacked, optimizer, tcfg, ...)
            return real_train(*args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ensemble, "stack", counting_stack)
            patch.setattr(stacked_rounds, "stack", counting_stack)
            patch.setattr(stacked_rounds, "stacked_train_steps", counting_train)
            out[stacked] = tmp_path_factory.mktemp("stacked" if stacked else "separate") / "run"
            run_rounds(config(stacked), out[stacked], log=lambda line: None)
        counts[stacked] = seen
    return {"dirs": out, "counts": counts}


def test_stacking_is_used_only_when_asked(runs):
    assert runs["counts"][True]["train"] == 2  # rounds 1 and 2 (round 0 trains each model alone)
    assert runs["counts"][True]["peaks"] == [0.001, 0.0005]  # rounds.lr_decay 0.5 reaches the stacked round too
    assert runs["counts"][True]["stack"] >= 2 + 3 + 2  # the two trainings, three evaluations, two labellings
    assert runs["counts"][False] == {"stack": 0, "train": 0}
    assert not list(runs["dirs"][True].glob("round_*/stacked_checkpoint"))  # removed once unstacked


def test_stacked_votes_labels_and_evaluations_equal_the_separate_models(runs):
    stacked, separate = runs["dirs"][True], runs["dirs"][False]
    labels = (stacked / "round_001" / "labels.jsonl").read_text()  # round 0's models label round 1
    assert labels == (separate / "round_001" / "labels.jsonl").read_text()
    votes = [json.loads(line)["answers"] for line in labels.splitlines()]
    assert votes and any(len(set(v)) > 1 for v in votes)  # the three voters really differ somewhere
    assert evals(stacked)["round_000"] == evals(separate)["round_000"]


def test_stacked_training_gives_each_models_own_weights(runs):
    stacked, separate = runs["dirs"][True], runs["dirs"][False]
    for m in range(3):
        a, b = weights(stacked, 1, m), weights(separate, 1, m)
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=f"model {m}: {name}")
        assert any(not torch.equal(a[n], weights(stacked, 0, m)[n]) for n in a)  # it trained
    assert not torch.equal(weights(stacked, 1, 0)["head.weight"], weights(stacked, 1, 1)["head.weight"])
    # every step's loss is kept per model, as the models trained one after another kept it
    ours, theirs = losses(stacked)["round_001"], losses(separate)["round_001"]
    assert list(ours) == list(theirs) == [0, 1, 2]
    for m in range(3):
        assert [s for s, _ in ours[m]] == [s for s, _ in theirs[m]] == list(range(15))
        torch.testing.assert_close([v for _, v in ours[m]], [v for _, v in theirs[m]], rtol=1e-3, atol=1e-5)
    # the AdamW state goes on per model: same step count and moments as the separate run's
    for m in range(3):
        a = load_file(stacked / "round_001" / f"m{m}_checkpoint" / "optimizer.safetensors")
        b = load_file(separate / "round_001" / f"m{m}_checkpoint" / "optimizer.safetensors")
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-6, msg=f"model {m}: {name}")


@pytest.mark.parametrize("where", ["mid-round", "between the models' own checkpoints"])
def test_a_stacked_round_killed_anywhere_resumes_to_the_same_weights(runs, tmp_path, monkeypatch, where):
    real_train, real_save = stacked_rounds.stacked_train_steps, stacked_rounds.save_checkpoint

    def train_then_crash(stacked, opt, cfg, get_batches, pad_id, precision, start=0, on_checkpoint=None, **kw):
        def checkpoint(step):
            on_checkpoint(step)
            if step == 10:
                raise KeyboardInterrupt("simulated kill")
        return real_train(stacked, opt, cfg, get_batches, pad_id, precision, start, checkpoint, **kw)

    def save_then_crash(folder, model, optimizer, meta, prefix=""):
        real_save(folder, model, optimizer, meta, prefix)
        if prefix == "m0_" and meta["round"] == 1:
            raise KeyboardInterrupt("simulated kill")

    if where == "mid-round":
        monkeypatch.setattr(stacked_rounds, "stacked_train_steps", train_then_crash)
    else:
        monkeypatch.setattr(stacked_rounds, "save_checkpoint", save_then_crash)
    # one round is enough, and it is the fixture's first round (rounds.count only extends a run)
    cfg = load_config(SMOKE, [*VOTE, "rounds.count=1", "rounds.stacked=true", "rounds.train.checkpoint_every=10"])
    with pytest.raises(KeyboardInterrupt):
        run_rounds(cfg, tmp_path, log=lambda line: None)
    state = json.loads((tmp_path / "round_001" / "stacked_checkpoint" / "state.json").read_text())
    assert state["step"] == (10 if where == "mid-round" else 15) and state["stacked"] == 3
    monkeypatch.undo()
    run_rounds(cfg, tmp_path, log=lambda line: None)
    reference = runs["dirs"][True]  # the same run, checkpointed less often: the same numbers
    assert evals(tmp_path) == {r: e for r, e in evals(reference).items() if r != "round_002"}
    assert losses(tmp_path)["round_001"] == losses(reference)["round_001"]  # each step once, as uninterrupted
    for r in (0, 1):
        for m in range(3):
            a, b = weights(tmp_path, r, m), weights(reference, r, m)
            assert all(torch.equal(a[n], b[n]) for n in a), (r, m)


def test_a_round_that_falls_back_to_one_by_one_resumes_as_one_by_one(runs, tmp_path, monkeypatch):
    """Models whose step counts cannot share one train one after another; killed after models 0
    and 1 finished and model 2 checkpointed mid-round (each has a checkpoint), the rerun must not
    take the round as finished."""
    from run_records import crashing

    from selfimprove import rounds

    monkeypatch.setattr(stacked_rounds, "same_bias_corrections", lambda steps, tcfg: False)
    real = rounds.train_steps
    monkeypatch.setattr(rounds, "train_steps", crashing(real, lambda desc: desc == "train r1 m2", 10))
    cfg = load_config(SMOKE, [*VOTE, "rounds.count=1", "rounds.stacked=true", "rounds.train.checkpoint_every=10"])
    with pytest.raises(KeyboardInterrupt):
        run_rounds(cfg, tmp_path, log=lambda line: None)
    assert json.loads((tmp_path / "round_001" / "m2_checkpoint" / "state.json").read_text())["step"] == 10
    monkeypatch.setattr(rounds, "train_steps", real)
    run_rounds(cfg, tmp_path, log=lambda line: None)
    separate = runs["dirs"][False]  # one by one from the start: the same numbers
    assert evals(tmp_path) == {r: e for r, e in evals(separate).items() if r != "round_002"}
    for m in range(3):
        a, b = weights(tmp_path, 1, m), weights(separate, 1, m)
        assert all(torch.equal(a[n], b[n]) for n in a), m


def test_one_step_count_stands_for_all_only_when_the_bias_corrections_agree():
    cfg = TrainConfig(steps=10, beta1=0.9, beta2=0.99)
    assert same_bias_corrections([40, 40, 40], cfg)
    assert not same_bias_corrections([40, 55], cfg)  # round 0's cycles stopped the models apart
    assert same_bias_corrections([10_000, 15_000], cfg)  # 1 - 0.99^t is 1.0 in doubles for both
    assert not same_bias_corrections([100, 15_000], cfg)


def test_stacking_is_chosen_per_device_unless_the_config_says():
    from selfimprove.config import ConfigError
    from selfimprove.runtime import stacks_models

    auto = load_config(SMOKE, ["rounds.models=3"])
    assert auto.rounds.stacked == "auto"
    assert stacks_models(auto, torch.device("cuda")) and not stacks_models(auto, torch.device("cpu"))
    for value, expected in (("true", True), ("false", False)):
        cfg = load_config(SMOKE, ["rounds.models=3", f"rounds.stacked={value}"])
        assert stacks_models(cfg, torch.device("cpu")) is expected is stacks_models(cfg, torch.device("cuda"))
    with pytest.raises(ConfigError, match="rounds.stacked"):
        load_config(SMOKE, ["rounds.stacked=sometimes"])
