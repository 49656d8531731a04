import pytest
import torch

from selfimprove.model import ModelConfig, Transformer


def test_paper_preset_has_about_14m_parameters():
    model = Transformer(ModelConfig(vocab_size=16))
    assert 13_000_000 < model.num_params() < 15_000_000


def test_nope_last_logits_are_invariant_to_permuting_earlier_tokens():
    # With no positional encoding a single attention layer sees a *set* of earlier tokens:
    # permuting them must not change what the last position predicts.
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=30, n_layer=1, n_head=2, n_embd=32, mlp_hidden=64)).eval()
    idx = torch.randint(0, 30, (1, 12))
    perm = torch.cat([torch.randperm(11), torch.tensor([11])])
    with torch.no_grad():
        a, b = model(idx)[0, -1], model(idx[:, perm])[0, -1]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_rope_breaks_the_permutation_invariance():
    # The same check must fail with rotary embeddings, or the test above proves nothing.
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=30, n_layer=1, n_head=2, n_embd=32, mlp_hidden=64, rope=True)).eval()
    idx = torch.randint(0, 30, (1, 12))
    perm = torch.cat([torch.arange(10, -1, -1), torch.tensor([11])])
    with torch.no_grad():
        assert not torch.allclose(model(idx)[0, -1], model(idx[:, perm])[0, -1], atol=1e-4)


def test_cached_forward_equals_full_forward(tiny_model):
    from selfimprove.model import KVCache

    idx = torch.randint(3, 24, (3, 10))
    cache = KVCache(tiny_model.cfg, 3, 10, torch.device("cpu"), torch.float32)
    cache.valid[:, :6] = True
    with torch.no_grad():
        full = tiny_model(idx)
        first = tiny_model(idx[:, :6], cache)
        steps = []
        for t in range(6, 10):
            cache.valid[:, t] = True
            steps.append(tiny_model(idx[:, t : t + 1], cache))
    torch.testing.assert_close(first, full[:, :6], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(steps, 1), full[:, 6:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("key,value", [("n_embd", 0), ("n_head", 5)])
def test_bad_model_config_is_a_value_error_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        ModelConfig(vocab_size=10, **{key: value})


def test_keep_and_last_only_give_the_full_logits_at_those_positions(tiny_model):
    idx = torch.randint(3, 24, (3, 9))
    keep = torch.rand(3, 9) < 0.4
    keep[0, 0] = True
    with torch.no_grad():
        full = tiny_model(idx)  # (B, T, V)
        kept = tiny_model(idx, keep=keep)  # (N, V)
        last = tiny_model(idx, last_only=True)  # (B, 1, V)
    torch.testing.assert_close(kept, full[keep], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, full[:, -1:], atol=1e-5, rtol=1e-5)


def test_cached_attention_stays_fp32_under_bf16_autocast():
    # Scores rounded to bf16 changed labels of a trained model; the cached path must not do that.
    from selfimprove.model import masked_attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8) * 4 for _ in range(3))
    mask = torch.rand(2, 1, 4, 4) < 0.7
    mask[..., 0] = True
    exact = masked_attention(q, k, v, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = masked_attention(q, k, v, mask)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, exact)


def test_the_bias_built_once_a_step_gives_the_masks_numbers():
    # Transformer.forward turns the decoding mask into its additive bias once for every layer; the
    # attention it gives must be the one the bool mask gives, and masked keys must get no weight.
    from selfimprove.model import attention_bias, masked_attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8) for _ in range(3))
    mask = torch.rand(2, 1, 4, 4) < 0.6
    mask[..., 0] = True
    bias = attention_bias(mask, n_head=3)
    assert bias.shape == (6, 4, 4)
    assert torch.equal(masked_attention(q, k, v, bias), masked_attention(q, k, v, mask))
    v_masked = v.clone()
    v_masked[~mask.expand(2, 3, 4, 4)[:, :, 0]] = 1e6  # what query 0 may not see, made huge
    assert masked_attention(q, k, v_masked, bias)[:, :, 0].abs().max() < 1e3


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_inference_mlp_gives_the_fused_products_numbers(tiny_model, precision):
    # Eval mode runs the gate and up products on the weight's halves; it must change no answer.
    from selfimprove.generate import autocast

    mlp = tiny_model.blocks[0].mlp
    x = torch.randn(5, 7, tiny_model.cfg.n_embd)
    with torch.no_grad(), autocast(torch.device("cpu"), precision):
        mlp.train()
        fused = mlp(x)
        mlp.eval()
        split = mlp(x)
    mlp.train()
    assert torch.equal(fused, split)
