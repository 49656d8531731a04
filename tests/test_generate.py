import torch

from selfimprove.generate import Decoding, greedy_batch, greedy_labels

EOS, PAD = 2, 0


def uncached_greedy(model, prompt, limit):
    seq, out = list(prompt), []
    with torch.no_grad():
        for _ in range(limit):
            token = model(torch.tensor([seq]))[0, -1].argmax().item()
            if token == EOS:
                break
            out.append(token)
            seq.append(token)
    return out


def prompts_of_mixed_lengths(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[1] + torch.randint(3, 24, (int(torch.randint(1, 14, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]


def test_cached_batched_equals_uncached_one_at_a_time(tiny_model):
    prompts = prompts_of_mixed_lengths()
    limits = [3 + i % 5 for i in range(len(prompts))]
    batched = greedy_batch(tiny_model, prompts, limits, EOS, PAD)
    alone = [greedy_batch(tiny_model, [p], [n], EOS, PAD)[0] for p, n in zip(prompts, limits)]
    reference = [uncached_greedy(tiny_model, p, n) for p, n in zip(prompts, limits)]
    assert batched == reference
    assert alone == reference


def test_rows_stop_at_eos_and_at_their_own_limit(tiny_model):
    # Make EOS the argmax after token 7 by biasing the head: rows that emit 7 must stop there.
    with torch.no_grad():
        tiny_model.head.weight[EOS] = 0
    prompts = prompts_of_mixed_lengths(20, seed=1)
    out = greedy_batch(tiny_model, prompts, [1] * 10 + [9] * 10, EOS, PAD)
    assert all(len(o) <= 1 for o in out[:10])
    assert all(len(o) <= 9 for o in out[10:])
    assert all(EOS not in o for o in out)


def test_labels_keep_input_order_across_batches(tiny_model):
    prompts = prompts_of_mixed_lengths(30, seed=2)
    limits = [6] * 30
    small = greedy_labels(tiny_model, prompts, limits, EOS, PAD, Decoding(batch_size=4))
    big = greedy_labels(tiny_model, prompts, limits, EOS, PAD, Decoding(batch_size=64))
    assert small == big == [uncached_greedy(tiny_model, p, 6) for p in prompts]


def test_rope_model_left_padding_matches_alone():
    from selfimprove.model import ModelConfig, Transformer

    torch.manual_seed(1)
    model = Transformer(ModelConfig(vocab_size=24, n_layer=2, n_head=2, n_embd=32, mlp_hidden=64, rope=True)).eval()
    prompts = prompts_of_mixed_lengths(8, seed=3)
    batched = greedy_batch(model, prompts, [5] * 8, EOS, PAD)
    assert batched == [uncached_greedy(model, p, 5) for p in prompts]


def test_prompt_pass_in_row_chunks_equals_one_pass(tiny_model, monkeypatch):
    from selfimprove import generate

    prompts = prompts_of_mixed_lengths(12, seed=4)
    whole = greedy_batch(tiny_model, prompts, [6] * 12, EOS, PAD)
    monkeypatch.setattr(generate, "PREFILL_TOKENS", 20)  # 1-2 rows per chunk
    assert greedy_batch(tiny_model, prompts, [6] * 12, EOS, PAD) == whole == [uncached_greedy(tiny_model, p, 6) for p in prompts]
