"""The benchmark's Hugging Face baseline computes exactly our model (an equivalence test, not a speed test)."""

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from hf_baseline import build_hf, check_same_logits, hf_greedy

from selfimprove.generate import greedy_batch
from selfimprove.model import ModelConfig, Transformer

PAD, BOS, EOS = 0, 1, 2


def tiny(n_layer=2, seed=0):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=24, n_layer=n_layer, n_head=2, n_embd=32, mlp_hidden=64)).eval()


def mixed_prompts(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 14, (n,), generator=g).tolist()
    return [[BOS] + torch.randint(3, 24, (k,), generator=g).tolist() for k in lengths]


def test_hf_nope_model_gives_our_logits():
    model = tiny()
    hf = build_hf(model, PAD, BOS, EOS)
    x = torch.randint(3, 24, (4, 17))
    assert check_same_logits(model, hf, x, atol=1e-5) <= 1e-5


def test_hf_nope_model_has_no_position_signal():
    # One layer, NoPE: permuting the earlier tokens leaves the last position's logits unchanged.
    hf = build_hf(tiny(n_layer=1), PAD, BOS, EOS).eval()
    idx = torch.randint(3, 24, (1, 12))
    perm = torch.cat([torch.randperm(11), torch.tensor([11])])
    with torch.no_grad():
        a, b = hf(input_ids=idx).logits[0, -1], hf(input_ids=idx[:, perm]).logits[0, -1]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_hf_generate_matches_our_greedy_labels_with_and_without_eos():
    model = tiny()
    with torch.no_grad():
        model.head.weight[EOS] *= 8  # make EOS win sometimes so that stopping is exercised
    hf = build_hf(model, PAD, BOS, EOS).eval()
    prompts = mixed_prompts()
    ours = greedy_batch(model, prompts, [7] * len(prompts), EOS, PAD)
    assert any(len(o) < 7 for o in ours)
    assert hf_greedy(hf, prompts, 7, PAD, EOS) == ours
    # EOS disabled on both sides: every row runs to the bound, as in the benchmark
    forced = greedy_batch(model, prompts, [7] * len(prompts), -1, PAD)
    assert all(len(o) == 7 for o in forced)
    assert hf_greedy(hf, prompts, 7, PAD, None) == forced
