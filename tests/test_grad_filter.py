import pytest
import torch

from selfimprove.grad_filter import amplify_slow_gradients, store_new_averages
from selfimprove.train import TrainConfig


def one_parameter():
    p = torch.nn.Parameter(torch.zeros(3))
    return p, torch.optim.AdamW([p], lr=1e-3)


def step(p, opt, grad, decay=0.9, gain=2.0):
    p.grad = grad.clone()
    pending = amplify_slow_gradients(opt, decay, gain)
    seen = p.grad.clone()
    opt.step()
    store_new_averages(opt, pending)
    return seen


def test_the_first_average_is_the_gradient_and_later_ones_decay_towards_new_gradients():
    p, opt = one_parameter()
    g1, g2 = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.0, 4.0, -1.0])
    assert torch.allclose(step(p, opt, g1), 3 * g1)  # g + 2 * ema with ema = g
    assert torch.equal(opt.state[p]["grad_ema"], g1)  # stored after AdamW set up its own state
    ema = 0.9 * g1 + 0.1 * g2
    assert torch.allclose(step(p, opt, g2), g2 + 2 * ema)
    assert torch.allclose(opt.state[p]["grad_ema"], ema)
    assert {"exp_avg", "exp_avg_sq", "step"} <= set(opt.state[p])  # AdamW's state was not pre-empted


def test_a_steady_gradient_is_amplified_and_a_sign_flipping_one_is_not():
    steady, opt = one_parameter()
    for _ in range(50):
        last_steady = step(steady, opt, torch.ones(3))
    noisy, opt = one_parameter()
    for i in range(50):
        last_noisy = step(noisy, opt, torch.ones(3) * (-1) ** i)
    assert torch.allclose(last_steady, torch.full((3,), 3.0))
    assert last_noisy.abs().max() < 1.5


@pytest.mark.parametrize("decay, gain", [(1.0, 2.0), (-0.1, 2.0), (0.98, -1.0)])
def test_out_of_range_settings_are_refused(decay, gain):
    with pytest.raises(ValueError, match="grad_ema"):
        TrainConfig(grad_ema_decay=decay, grad_ema_gain=gain)
