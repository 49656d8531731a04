"""A stacked ensemble equals k separate models: same init + same batches => same weights, answers."""

import dataclasses
import random

import pytest
import torch

from selfimprove.data import BatchPlan, build_token_set
from selfimprove.ensemble import (
    can_stack,
    clip_per_model,
    make_stacked_optimizer,
    stack,
    stacked_greedy_batch,
    stacked_labels,
    stacked_train_steps,
    unstack,
)
from selfimprove.generate import Decoding, greedy_batch, greedy_labels
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import TrainConfig, make_optimizer, train_steps

K = 3
TASK = get_task("reverse_addition")
TOK = Tokenizer.for_task(TASK)


def models(k=K, rope=False):
    out = []
    for m in range(k):
        torch.manual_seed(100 + m)  # different inits, as independent voters have
        out.append(Transformer(ModelConfig(vocab_size=len(TOK), n_layer=2, n_head=2, n_embd=32, mlp_hidden=64, rope=rope)))
    return out


def data_sets(m):
    rng = random.Random(m)
    problems = [TASK.sample_initial(1, 6, rng) for _ in range(300)]
    return [build_token_set(TOK, [(TASK.prompt(p), TASK.solve(p)) for p in problems], levels=6)]


def prompts(n=40, seed=5):
    rng = random.Random(seed)
    return [[TOK.bos_id] + TOK.encode(TASK.prompt(TASK.sample(rng.randint(1, 7), rng))) for _ in range(n)]


CFG = TrainConfig(steps=6, batch_size=16, lr=3e-3, warmup_steps=2, decay_steps=2, grad_clip=0.05, precision="fp32")


@pytest.mark.parametrize("update_clip", [0.0, 0.5])  # 0.5: clipping on most steps, each model's slice by its own
def test_stacked_training_equals_k_separate_runs(update_clip):
    cfg = dataclasses.replace(CFG, update_clip=update_clip)
    separate, initial = models(), models()
    sets = [data_sets(m) for m in range(K)]
    plans = [BatchPlan(seed=m, round=0, batch_size=cfg.batch_size, bucket=1) for m in range(K)]
    separate_losses = []
    for m, model in enumerate(separate):
        separate_losses.append(train_steps(model, make_optimizer(model, cfg), cfg,
                                           lambda s, m=m: plans[m].batch(sets[m], s, TOK.pad_id)))
    stacked = stack(initial)
    losses = stacked_train_steps(stacked, make_stacked_optimizer(stacked, cfg), cfg,
                                 lambda s: [plans[m].batch(sets[m], s, TOK.pad_id) for m in range(K)], TOK.pad_id, "fp32")
    torch.testing.assert_close(torch.tensor(losses).T, torch.tensor(separate_losses), rtol=1e-5, atol=1e-5)
    unstack(stacked, initial)
    for ours, theirs in zip(initial, separate):
        for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
        moved = any(not torch.equal(a, b) for a, b in zip(ours.parameters(), models()[0].parameters()))
        assert moved  # training changed the weights, so equality above means something


def test_gradients_are_clipped_per_model():
    """Each model's slice is scaled by its own global norm, as clip_grad_norm_ does alone."""
    ks = models()
    stacked = stack(ks)
    for p in stacked.parameters():
        p.grad = torch.randn_like(p) * torch.arange(1, K + 1).view(-1, *[1] * (p.dim() - 1))  # model m: norm ~ m
    for m, model in enumerate(ks):
        for name, p in model.named_parameters():
            p.grad = stacked.get_parameter(name).grad[m].clone()
    clip_per_model(stacked, 1.0)
    for m, model in enumerate(ks):
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for name, p in model.named_parameters():
            torch.testing.assert_close(stacked.get_parameter(name).grad[m], p.grad, msg=name)
    norms = [torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item() for model in ks]
    assert all(abs(n - 1.0) < 1e-4 for n in norms)  # all clipped, each to 1 (a global clip would not)


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("prefill_tokens", [2048, 40])  # the prompt pass in one piece / in chunks of 1-2 rows a model
def test_stacked_greedy_answers_equal_each_models_own(rope, prefill_tokens, monkeypatch):
    from selfimprove import generate

    monkeypatch.setattr(generate, "PREFILL_TOKENS", prefill_tokens)
    ks = models(rope=rope)
    for m, model in enumerate(ks):  # sharpen the random models so that EOS and limits both occur
        with torch.no_grad():
            model.head.weight.mul_(30.0 + m)
        model.eval()
    ps = prompts()
    limits = [2 + i % 7 for i in range(len(ps))]
    answers = stacked_greedy_batch(stack(ks), ps, limits, TOK.eos_id, TOK.pad_id)
    for m, model in enumerate(ks):
        assert answers[m] == greedy_batch(model, ps, limits, TOK.eos_id, TOK.pad_id)
    assert any(a != answers[0] for a in answers[1:])  # the models really differ
    assert any(len(a) < n for a, n in zip(answers[0], limits))  # some rows stopped at EOS


def test_stacked_labels_keep_prompt_order_across_batches():
    ks = [m.eval() for m in models()]
    ps = prompts(30, seed=9)
    limits = [5] * len(ps)
    out = stacked_labels(stack(ks), ps, limits, TOK.eos_id, TOK.pad_id, Decoding(batch_size=7))
    for m, model in enumerate(ks):
        assert out[m] == greedy_labels(model, ps, limits, TOK.eos_id, TOK.pad_id, Decoding(batch_size=7))


def test_models_of_different_shapes_cannot_stack():
    a = Transformer(ModelConfig(vocab_size=len(TOK), n_layer=1, n_head=2, n_embd=32, mlp_hidden=64))
    b = Transformer(ModelConfig(vocab_size=len(TOK), n_layer=2, n_head=2, n_embd=32, mlp_hidden=64))
    with pytest.raises(ValueError, match="ModelConfig"):
        stack([a, b])


def test_answers_of_each_stacks_only_what_it_can_and_answers_alike():
    from selfimprove.evaluate import answers_of_each

    ks = [m.eval() for m in models()]
    rng = random.Random(3)
    problems = [TASK.sample(rng.randint(1, 6), rng) for _ in range(25)]
    stacked = answers_of_each(ks, TASK, TOK, problems, Decoding(batch_size=8, stacked=True))
    separate = answers_of_each(ks, TASK, TOK, problems, Decoding(batch_size=8, stacked=False))
    assert stacked == separate and len(stacked) == K and all(len(a) == 25 for a in stacked)
    assert can_stack(ks) and not can_stack(ks[:1])
    other = Transformer(ModelConfig(vocab_size=len(TOK), n_layer=1, n_head=2, n_embd=32, mlp_hidden=64))
    assert not can_stack([ks[0], other])  # another shape: answered one after another
    mixed = answers_of_each([ks[0], other.eval()], TASK, TOK, problems, Decoding(batch_size=8))
    assert mixed[0] == separate[0]
