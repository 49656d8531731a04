"""``model.init_from``: round 0 starts from another run's final model, rows mapped by token."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from selfimprove.cli import main
from selfimprove.init_from import warm_start
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
ROUND0_ONLY = ["rounds.count=0", "threads=1"]


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("init_from") / "copy"
    assert main(["run", str(SMOKE), "--out", str(out), "task.name=copy", *ROUND0_ONLY]) == 0
    return out


def weights(run: Path, r: int = 0) -> dict:
    return load_file(run / f"round_{r:03d}" / "checkpoint" / "model.safetensors")


def fresh(task_name: str):
    """A freshly initialised model with the smoke config's architecture, and its tokenizer."""
    tok = Tokenizer.for_task(get_task(task_name))
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=len(tok), n_layer=2, n_head=2, n_embd=32, mlp_hidden=64)), tok


def test_same_task_start_is_the_source_model(copy_run):
    model, tok = fresh("copy")
    warm_start(model, tok, copy_run)
    ours, theirs = model.state_dict(), weights(copy_run)
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)


def test_another_task_takes_the_rows_of_the_tokens_both_vocabularies_hold(copy_run):
    model, tok = fresh("reverse_addition")
    warm_start(model, tok, copy_run)
    ours, theirs = model.state_dict(), weights(copy_run)
    their_tok = Tokenizer.for_task(get_task("copy"))
    for name in ("embed.weight", "head.weight"):
        for i, token in enumerate(tok.tokens):
            if token in their_tok.tokens:
                assert ours[name][i].equal(theirs[name][their_tok.tokens.index(token)]), token
            else:  # '+' is new to the copy model: a fresh row
                assert token == "+" and not any(ours[name][i].equal(row) for row in theirs[name])
    assert ours["blocks.0.attn.qkv.weight"].equal(theirs["blocks.0.attn.qkv.weight"])


def test_trained_from_a_source_differs_from_trained_from_scratch(copy_run, tmp_path):
    # the warm start really feeds training: same seed and batches, different starting weights
    from_source, scratch = tmp_path / "warm", tmp_path / "scratch"
    overrides = ["round0.train.steps=10", "round0.train.warmup_steps=0", "round0.train.decay_steps=0", *ROUND0_ONLY]
    assert main(["run", str(SMOKE), "--out", str(from_source), f"model.init_from={copy_run}", *overrides]) == 0
    assert main(["run", str(SMOKE), "--out", str(scratch), *overrides]) == 0
    assert not weights(from_source)["blocks.0.mlp.down.weight"].equal(weights(scratch)["blocks.0.mlp.down.weight"])


@pytest.mark.parametrize("override, message", [
    ("model.init_from={missing}", "not a run directory"),
    ("model.n_embd=64", "its model has model.n_embd=32 but this config has 64"),
])
def test_bad_init_from_is_a_one_line_error_and_writes_nothing(copy_run, tmp_path, capsys, override, message):
    out = tmp_path / "bad"
    source = override.format(missing=tmp_path / "missing")
    args = ["run", str(SMOKE), "--out", str(out), *ROUND0_ONLY]
    args += [source] if "init_from" in source else [f"model.init_from={copy_run}", source]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.init_from") and message in err and err.count("\n") == 1
    assert not out.exists()  # fixing the path and rerunning is not "a run with a different config"


def test_a_run_without_a_finished_round_is_refused(tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text(SMOKE.read_text())
    assert main(["run", str(SMOKE), "--out", str(tmp_path / "x"), f"model.init_from={unfinished}", *ROUND0_ONLY]) == 2
    assert "no finished round" in capsys.readouterr().err


def test_a_run_directory_from_before_these_keys_still_resumes_and_forks(copy_run, tmp_path):
    import shutil

    import yaml

    old = tmp_path / "old"
    shutil.copytree(copy_run, old)
    data = yaml.safe_load((old / "config.yaml").read_text())
    for key in ("init_from", "backend", "path", "lora"):  # written before the keys existed
        del data["model"][key]
    (old / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    args = ["run", str(SMOKE), "task.name=copy", *ROUND0_ONLY]
    assert main([*args, "--out", str(old)]) == 0  # not "a different config"
    assert main([*args, "--out", str(tmp_path / "fork"), "--base", str(old)]) == 0
