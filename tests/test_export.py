"""`selfimprove export`: a trained run as a Hugging Face directory that gives the same answers."""

import json
import random
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
from transformers import AutoModelForCausalLM, AutoTokenizer

from selfimprove.cli import main
from selfimprove.evaluate import decoding_bound
from selfimprove.export import export_model
from selfimprove.model import ModelConfig, Transformer
from selfimprove.predict import predict
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
FP32 = ["rounds.count=0", "round0.train.steps=200", "round0.train.decay_steps=50", "round0.train.precision=fp32",
        "rounds.train.precision=fp32"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """Round 0 of the smoke config, trained long enough to answer differently (seconds), in fp32 so both sides decode in the same precision."""
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["run", str(SMOKE), "--out", str(out), *FP32]) == 0
    return out


def hf_answers(folder: Path, prompts: list[str], limits: list[int]) -> list[str]:
    """Greedy answers of an exported folder through plain ``transformers``: its own tokenizer,
    left padding, ``generate``; each row cut to its own bound as ours is."""
    hf = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    batch = tok(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = hf.generate(**batch, max_new_tokens=max(limits))[:, batch["input_ids"].shape[1] :]
    rows = []
    for seq, limit in zip(out.tolist(), limits):
        seq = seq[: seq.index(tok.eos_token_id)] if tok.eos_token_id in seq else seq
        rows.append(tok.decode(seq[:limit], skip_special_tokens=True))
    return rows


def test_exported_run_gives_the_same_greedy_answers_as_predict(trained_run, tmp_path):
    to = tmp_path / "hf"
    assert main(["export", str(trained_run), "--to", str(to)]) == 0
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= {p.name for p in to.iterdir()}
    config = json.loads((to / "config.json").read_text())
    assert config["model_type"] == "smollm3" and config["no_rope_layers"] == [0, 0]  # NoPE in every layer
    task = get_task("reverse_addition")
    rng = random.Random(1)
    problems = [task.sample(d, rng) for d in (1, 2, 3, 4, 5, 6) for _ in range(6)]
    prompts = [task.prompt(p) for p in problems]
    ours = predict(trained_run, prompts)
    assert len(set(ours)) > 3  # a trained model, not a constant one
    assert hf_answers(to, prompts, [decoding_bound(task, task.difficulty(p)) for p in problems]) == ours


@pytest.mark.parametrize("task_name", ["reverse_addition", "multiplication", "maze"])
def test_exported_model_has_our_logits_and_token_ids(task_name, tmp_path):
    task = get_task(task_name)
    tok = Tokenizer.for_task(task)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=len(tok), n_layer=2, n_head=2, n_embd=32, mlp_hidden=64)).eval()
    export_model(model, tok, tmp_path)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    hf_tok = AutoTokenizer.from_pretrained(tmp_path)
    prompt = task.prompt(task.sample({"maze": (2, 6), "multiplication": (3, 2)}.get(task_name, 3), random.Random(0)))
    ids = hf_tok(prompt)["input_ids"]
    assert ids == [tok.bos_id] + tok.encode(prompt)  # maze labels such as 12 stay one token
    assert hf_tok.decode(ids, skip_special_tokens=True) == prompt
    x = torch.tensor([ids])
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=x).logits, model(x), atol=1e-5, rtol=1e-5)


def test_export_refuses_a_non_empty_folder_and_a_missing_run(trained_run, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    assert main(["export", str(trained_run), "--to", str(tmp_path / "taken")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "--to", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not a run directory" in err and err.count("\n") == 1


def test_export_refuses_a_rope_model(tmp_path, capsys):
    from selfimprove.export import ExportError

    tok = Tokenizer.for_task(get_task("copy"))
    model = Transformer(ModelConfig(vocab_size=len(tok), n_layer=1, n_head=2, n_embd=16, mlp_hidden=32, rope=True))
    with pytest.raises(ExportError, match="NoPE runs only"):
        export_model(model, tok, tmp_path)
