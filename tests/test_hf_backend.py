"""``model.backend: hf``: a local pretrained causal LM with LoRA in the same round loop.

Everything runs on a tiny randomly initialised ``LlamaForCausalLM`` (RoPE, grouped-query
attention, untied head) saved with its own word-level tokenizer to a temp folder: no download.
Its vocabulary is shuffled and padded with unrelated tokens, so a pretrained id never equals ours.
"""

import json
import random
from pathlib import Path

import pytest
import torch

pytest.importorskip("peft")
from run_records import crashing, evals
from tokenizers import Regex, pre_tokenizers
from tokenizers import Tokenizer as RawTokenizer
from tokenizers.models import WordLevel
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from selfimprove.cli import main
from selfimprove.config import ConfigError, load_config
from selfimprove.data import BatchPlan, build_token_set
from selfimprove.rounds import run_rounds
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import TrainConfig, make_optimizer, train_steps

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
CHARACTERS = list("0123456789+=*()>#:,-")


def save_tiny_llama(folder: Path, characters=CHARACTERS) -> Path:
    """A 2-layer random Llama and a tokenizer holding ``characters`` as single tokens."""
    words = ["<unk>", "<s>", "</s>", *characters, "ab", "the", "12", "x", "y"]
    random.Random(0).shuffle(words)
    raw = RawTokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, max_position_embeddings=256)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny")


def hf_overrides(path: Path) -> list[str]:
    """The smoke config on the tiny Llama: LoRA with dropout (resume must replay its masks), fp32."""
    return ["model.backend=hf", f"model.path={path}", "model.lora.r=4", "model.lora.alpha=8.0",
            "model.lora.dropout=0.1", "round0.train.precision=fp32", "rounds.train.precision=fp32", "threads=1"]


def loaded(llama: Path, task_name: str = "reverse_addition"):
    from selfimprove.networks import build_network

    cfg = load_config(SMOKE, [*hf_overrides(llama), f"task.name={task_name}"])
    tok = Tokenizer.for_task(get_task(task_name))
    torch.manual_seed(0)
    return build_network(cfg.model, tok), tok, cfg


def test_task_tokens_map_onto_the_pretrained_single_character_tokens(llama):
    from transformers import AutoTokenizer

    model, tok, _ = loaded(llama)
    hf_tok = AutoTokenizer.from_pretrained(llama)
    ids = model.ids.tolist()
    assert hf_tok.convert_ids_to_tokens(ids[3:]) == tok.tokens[3:]  # "0".."9", "+", "="
    assert ids[1:3] == [hf_tok.bos_token_id, hf_tok.eos_token_id]
    assert ids[0] == hf_tok.eos_token_id  # no PAD in this tokenizer: EOS pads (masked, never predicted)
    assert ids != list(range(len(ids)))


def few_steps(model, tok, steps=6, seed=0):
    task = get_task("reverse_addition")
    rng = random.Random(seed)
    problems = [task.sample(rng.randint(1, 3), rng) for _ in range(64)]
    data = build_token_set(tok, [(task.prompt(p), task.solve(p)) for p in problems], 3)
    cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-2, precision="fp32", checkpoint_every=steps)
    opt = make_optimizer(model, cfg)
    plan = BatchPlan(seed, 0, cfg.batch_size, 0.5, 1)
    return train_steps(model, opt, cfg, lambda s: plan.batch([data], s, tok.pad_id)), opt


def test_lora_training_changes_the_adapters_only(llama):
    model, tok, _ = loaded(llama)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses, opt = few_steps(model, tok)
    assert losses[-1] < losses[0]
    changed = {n for n, p in model.named_parameters() if not p.equal(before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed) and any("base_layer" in n or "embed" in n for n in before)
    assert set(model.state_dict()) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n for n in model.state_dict())  # a checkpoint holds the adapter only
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in model.parameters() if p.requires_grad}


def test_own_greedy_decoding_equals_hugging_face_generate(llama):
    model, tok, _ = loaded(llama)
    few_steps(model, tok)
    model.eval()
    eos = int(model.ids[tok.eos_id])
    with torch.no_grad():
        # damp EOS (six steps at lr 1e-2 make it win at once everywhere): rows both stop early and
        # run to their bound, so each way of stopping is exercised
        model.lm_head.weight[eos] *= 0.3
    task = get_task("reverse_addition")
    rng = random.Random(3)
    prompts = [[tok.bos_id] + tok.encode(task.prompt(task.sample(rng.randint(1, 5), rng))) for _ in range(12)]
    limits = [rng.randint(3, 8) for _ in prompts]
    ours = model.greedy_batch(prompts, limits, tok.eos_id, tok.pad_id)
    assert any(len(o) < n for o, n in zip(ours, limits)) and any(len(o) == n for o, n in zip(ours, limits))

    allowed = set(model.ids[2:].tolist())  # EOS and the task's tokens: what our head chooses among
    vocab = model.lm_head.weight.shape[0]
    back = {int(p): i for i, p in enumerate(model.ids.tolist()) if i >= 2}
    theirs = []
    for prompt, limit in zip(prompts, limits):  # one row at a time: no padding on the HF side
        out = model.net.generate(input_ids=model.ids[torch.tensor([prompt])], max_new_tokens=limit, do_sample=False,
                                 eos_token_id=eos, pad_token_id=eos,
                                 suppress_tokens=[i for i in range(vocab) if i not in allowed])[0, len(prompt):].tolist()
        theirs.append([back[t] for t in (out[: out.index(eos)] if eos in out else out)])
    assert ours == theirs




def test_a_lora_run_resumed_after_a_crash_equals_the_uninterrupted_run(llama, tmp_path, monkeypatch):
    from selfimprove import rounds

    overrides = [*hf_overrides(llama), "rounds.count=1", "round0.examples=500", "round0.train.steps=30",
                 "round0.train.decay_steps=10", "rounds.problems=32", "eval.n=8"]
    cfg = load_config(SMOKE, overrides)
    whole = run_rounds(cfg, tmp_path / "whole", log=lambda line: None)
    adapter = tmp_path / "whole" / "round_001" / "checkpoint" / "model.safetensors"
    from safetensors.torch import load_file

    assert adapter.exists() and all("lora_" in k for k in load_file(adapter))
    assert (tmp_path / "whole" / "round_001" / "checkpoint" / "optimizer.safetensors").exists()

    real = rounds.train_steps
    monkeypatch.setattr(rounds, "train_steps", crashing(real, lambda desc: desc.startswith("train r1"), 20))
    with pytest.raises(KeyboardInterrupt):
        run_rounds(cfg, tmp_path / "resumed", log=lambda line: None)
    monkeypatch.setattr(rounds, "train_steps", real)
    run_rounds(cfg, tmp_path / "resumed", log=lambda line: None)
    assert evals(tmp_path / "resumed") == evals(whole)
    labels = [(tmp_path / run / "round_001" / "labels.jsonl").read_text() for run in ("whole", "resumed")]
    assert labels[0] == labels[1]


@pytest.mark.parametrize("name, r", [("reverse_addition_llama1b", 64), ("reverse_addition_llama3b", 32)])
def test_paper_llama_presets_hold_the_papers_values_and_run_two_rounds_on_a_tiny_model(name, r, llama, tmp_path):
    preset = ROOT / "configs" / "paper" / f"{name}.yaml"
    cfg = load_config(preset)
    assert (cfg.model.backend, cfg.model.lora.r, cfg.model.lora.alpha) == ("hf", r, 128.0)
    assert set(cfg.model.lora.targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    t0, t = cfg.round0.train, cfg.rounds.train
    assert (t0.steps, t0.batch_size, t0.lr, t0.warmup_steps, t0.decay_steps, t0.decay_shape) == (1200, 128, 1e-4, 120, 240, "cosine")
    assert (t.steps, t.batch_size, t.lr, t.warmup_steps, t.decay_steps, t.decay_shape) == (600, 128, 1e-4, 0, 600, "cosine")
    assert t0.lr * t0.min_lr_ratio == pytest.approx(1e-6) and t.lr * t.min_lr_ratio == pytest.approx(1e-6)
    toy = [f"model.path={llama}", "round0.examples=200", "round0.high=3", "round0.train.steps=6",
           "round0.train.warmup_steps=1", "round0.train.decay_steps=2", "round0.train.batch_size=8",
           "rounds.count=2", "rounds.problems=16", "rounds.train.steps=3", "rounds.train.decay_steps=3",
           "rounds.train.batch_size=8", "eval.high=5", "eval.ahead=1", "eval.n=4", "threads=1"]
    out = tmp_path / name
    assert main(["run", str(preset), "--out", str(out), *toy]) == 0
    assert all((out / f"round_{r:03d}" / "DONE").exists() for r in range(3))
    assert json.loads((out / "round_002" / "filter_stats.json").read_text())["labelled"] == 16


def test_preset_without_a_model_path_is_a_one_line_error(tmp_path, capsys):
    preset = ROOT / "configs" / "paper" / "reverse_addition_llama1b.yaml"
    assert main(["run", str(preset), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.backend=hf needs model.path=DIR") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def save_not_causal(folder: Path) -> Path:
    from transformers import T5Config

    T5Config(d_model=16, num_layers=1, num_heads=2, d_ff=32, vocab_size=32).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nowhere", "no such folder; expected a local Hugging Face model folder"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "no config.json there"),
    (lambda tmp: save_not_causal(tmp / "t5"), "holds a 't5' model, which is not a causal language model"),
    (lambda tmp: save_tiny_llama(tmp / "no_plus", [c for c in CHARACTERS if c != "+"]), "no single token for '+' (it becomes ['<unk>'])"),
])
def test_a_bad_pretrained_folder_is_a_one_line_error_before_anything_is_written(make, message, tmp_path, capsys):
    path = make(tmp_path)
    capsys.readouterr()  # saving the tiny model reports its progress on stderr
    out = tmp_path / "run"
    args = ["run", str(SMOKE), "--out", str(out), *hf_overrides(path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: model.path {path}") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_init_from_and_the_hf_backend_do_not_mix(llama):
    with pytest.raises(ConfigError, match="model.init_from is for the native backend"):
        load_config(SMOKE, [*hf_overrides(llama), f"model.init_from={llama}"])


def test_an_exported_lora_run_gives_predicts_greedy_answers(llama, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfimprove.predict import predict

    run, to = tmp_path / "run", tmp_path / "hf"
    overrides = [*hf_overrides(llama), "rounds.count=0", "round0.examples=500", "round0.train.steps=30",
                 "round0.train.decay_steps=10", "round0.train.lr=0.02", "eval.n=4"]  # lr: answers that differ
    assert main(["run", str(SMOKE), "--out", str(run), *overrides]) == 0
    assert main(["export", str(run), "--to", str(to)]) == 0
    task = get_task("reverse_addition")
    rng = random.Random(5)
    problems = [task.sample(rng.randint(1, 6), rng) for _ in range(24)]
    prompts = [task.prompt(p) for p in problems]
    ours = predict(run, prompts)
    assert len(set(ours)) > 1

    hf = AutoModelForCausalLM.from_pretrained(to).eval()  # merged weights, the task's vocabulary
    hf_tok = AutoTokenizer.from_pretrained(to)
    assert type(hf).__name__ == "LlamaForCausalLM" and not any("lora" in n for n, _ in hf.named_parameters())
    batch = hf_tok(prompts, padding=True, return_tensors="pt")
    limits = [task.max_answer_len(task.difficulty(p)) for p in problems]
    with torch.no_grad():
        out = hf.generate(**batch, max_new_tokens=max(limits))[:, batch["input_ids"].shape[1]:]
    theirs = []
    for seq, limit in zip(out.tolist(), limits):
        seq = seq[: seq.index(hf_tok.eos_token_id)] if hf_tok.eos_token_id in seq else seq
        theirs.append(hf_tok.decode(seq[:limit], skip_special_tokens=True))
    assert theirs == ours
