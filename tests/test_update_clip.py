import copy

import pytest
import torch

from selfimprove.train import TrainConfig
from selfimprove.update_clip import clipped_step, staleness

BETAS, EPS, LR, WD = (0.9, 0.99), 1e-12, 1e-3, 0.1


def weights(seed=0, shape=(8, 16)):
    torch.manual_seed(seed)
    return torch.nn.Parameter(torch.randn(shape) * 0.02)


def adamw(p, lr=LR):
    return torch.optim.AdamW([p], lr=lr, betas=BETAS, eps=EPS, weight_decay=WD)


def settle(p, opt, steps=200, scale=1e-6, seed=1):
    """``steps`` AdamW steps on tiny random gradients: a second moment of a converged phase."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        p.grad = torch.randn(p.shape, generator=gen) * scale
        opt.step()


def test_a_fresh_optimizer_or_a_steady_gradient_steps_exactly_as_plain_adamw():
    for warm in (0, 200):
        p, q = weights(), weights()
        opt_p, opt_q = adamw(p), adamw(q)
        settle(p, opt_p, warm, scale=1e-2)
        settle(q, opt_q, warm, scale=1e-2)
        grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(7)) * 1e-2
        p.grad, q.grad = grad.clone(), grad.clone()
        assert float(staleness(opt_p)[p]) <= 1.5  # nothing stale: a gradient like the ones before
        clipped_step(opt_p, 1.0)
        opt_q.step()
        assert torch.equal(p, q)


def test_a_gradient_far_above_the_stale_second_moment_steps_at_lr_over_rms():
    p, ref = weights(), weights()
    opt, opt_ref = adamw(p), adamw(ref)
    settle(p, opt)
    settle(ref, opt_ref)
    jump = torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 1e-2  # 10^4 x the settled
    p.grad = jump.clone()
    rms = float(staleness(opt)[p])
    assert 9 < rms <= 10.001  # sqrt(1 / (1 - beta2)): the new gradient dwarfs the moment's memory
    before = ref.detach().clone()
    clipped_step(opt, 1.0)
    # the reference: plain AdamW with its learning rate divided by rms for this one step
    opt_ref.param_groups[0]["lr"] = LR / rms
    ref.grad = jump.clone()
    opt_ref.step()
    torch.testing.assert_close(p, ref, rtol=1e-5, atol=1e-9)
    assert (p - before).abs().max() < 0.2 * LR  # plain AdamW moves every weight by ~lr here
    # the optimizer state is the plain step's: clipping only rescales the weights' move
    assert torch.equal(opt.state[p]["exp_avg_sq"], opt_ref.state[ref]["exp_avg_sq"])


def test_the_threshold_sets_where_clipping_starts_and_zero_disables_it():
    moves = {}
    for threshold in (0.0, 1.0, 5.0, 100.0):
        p = weights()
        opt = adamw(p)
        settle(p, opt)
        p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 1e-2
        before = p.detach().clone()
        rms = float(staleness(opt)[p])  # ~9.3: the same gradient and state for every threshold
        clipped_step(opt, threshold)
        moves[threshold] = (p - before).abs().mean().item()
    assert moves[100.0] == pytest.approx(moves[0.0], rel=1e-6)  # rms ~10 < 100: no clipping
    assert moves[5.0] == pytest.approx(moves[0.0] * 5 / rms, rel=1e-4)
    assert moves[1.0] == pytest.approx(moves[0.0] / rms, rel=1e-4)


def test_stacked_slices_are_clipped_each_by_its_own_staleness():
    """A stacked ensemble's tensor (k, ...) is k models' tensors: each slice is clipped as that
    model's own optimizer would clip it."""
    k = 3
    singles = [weights(seed=m) for m in range(k)]
    opts = [adamw(p) for p in singles]
    stacked = torch.nn.Parameter(torch.stack([p.detach().clone() for p in singles]))
    opt_stacked = adamw(stacked)
    scales = [1e-6, 1e-2, 1e-6]  # model 1 trains on gradients like the coming one: nothing stale
    for step in range(200):
        gs = [torch.randn(p.shape, generator=torch.Generator().manual_seed(step * k + m)) * scales[m]
              for m, p in enumerate(singles)]
        for p, opt, g in zip(singles, opts, gs):
            p.grad = g.clone()
            opt.step()
        stacked.grad = torch.stack(gs)
        opt_stacked.step()
    jump = [torch.randn(singles[0].shape, generator=torch.Generator().manual_seed(900 + m)) * 1e-2 for m in range(k)]
    for p, opt, g in zip(singles, opts, jump):
        p.grad = g.clone()
        clipped_step(opt, 1.0)
    stacked.grad = torch.stack(jump)
    rms = staleness(opt_stacked, per_slice=True)[stacked]
    assert rms.shape == (k,) and rms[0] > 9 and rms[1] < 2 and rms[2] > 9
    clipped_step(opt_stacked, 1.0, per_slice=True)
    for m in range(k):
        torch.testing.assert_close(stacked[m], singles[m], rtol=1e-5, atol=1e-9)


def test_update_clip_is_validated_and_off_by_default():
    assert TrainConfig().update_clip == 0.0
    with pytest.raises(ValueError, match="update_clip"):
        TrainConfig(update_clip=-1.0)


def test_a_copy_of_the_optimizer_steps_the_same_so_resumes_stay_exact():
    """Clipping reads only the gradient and the saved AdamW state: an optimizer restored from a
    state dict takes the very same clipped step."""
    p = weights()
    opt = adamw(p)
    settle(p, opt)
    q = torch.nn.Parameter(p.detach().clone())
    opt_q = adamw(q)
    opt_q.load_state_dict(copy.deepcopy(opt.state_dict()))
    g = torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 1e-2
    p.grad, q.grad = g.clone(), g.clone()
    clipped_step(opt, 1.0)
    clipped_step(opt_q, 1.0)
    assert torch.equal(p, q)
