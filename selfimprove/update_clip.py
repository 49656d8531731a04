"""Update clipping for AdamW (Adafactor's, as StableAdamW carries it into AdamW).

Adam divides each gradient by the root of its running second moment. After a converged phase
that moment is tiny (the demo's MLP weights: sqrt(v) ~1e-6 against weights ~1e-2), so when the
data shifts - a self-improvement round brings a new length - the first large gradients are divided
by a stale, far too small estimate and every weight moves by about the full learning rate at once:
the rounds' loss spikes (docs/EXPERIMENTS.md X2, A4). Gradient clipping cannot see this (Adam is
invariant to the gradient's scale) and a warmup only delays it (X3).

Update clipping measures, for each weight tensor, how stale the estimate is,

    rms = sqrt(mean(g**2 / max(v_hat, eps**2)))

with v_hat the bias-corrected second moment *including* this step's gradient (1 in a steady
state, ~sqrt(1 / (1 - beta2)) = 10 when the gradient jumps by orders of magnitude), and takes the
step at ``lr / max(1, rms / threshold)`` for that tensor - weight decay included, as StableAdamW
does. Optimizer state is untouched, so a run with clipping resumes bit for bit like one without.

The step is taken by the optimizer as it is (torch's fused AdamW) and rescaled afterwards:
AdamW's step is linear in the learning rate, so ``old + (new - old) / s`` is the step at lr / s.
"""

from __future__ import annotations

import torch


def staleness(optimizer: torch.optim.Optimizer, per_slice: bool = False) -> dict[torch.Tensor, torch.Tensor]:
    """Each parameter's rms of g**2 / v_hat for the step about to be taken (its gradients set, its
    AdamW state as the last step left it). ``per_slice``: one value per slice of the first dimension
    (a stacked ensemble's k models), else one per tensor."""
    out = {}
    for group in optimizer.param_groups:
        beta2, eps = group["betas"][1], group["eps"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g2 = p.grad.detach().float().square()
            state = optimizer.state.get(p, {})
            if "exp_avg_sq" in state:
                t = float(state["step"]) + 1
                v = state["exp_avg_sq"].float() * beta2 + g2 * (1 - beta2)
            else:  # a fresh optimizer: its first step sees this gradient alone
                t, v = 1.0, g2 * (1 - beta2)
            ratio = g2 / (v / (1 - beta2**t)).clamp_min(eps**2)
            dims = tuple(range(1, p.dim())) if per_slice and p.dim() > 1 else None  # None: the whole tensor
            out[p] = ratio.mean(dim=dims).sqrt()
    return out


def clipped_step(optimizer: torch.optim.Optimizer, threshold: float, per_slice: bool = False) -> None:
    """``optimizer.step()`` with each tensor's (or slice's) step shrunk by max(1, rms / threshold);
    ``threshold`` 0 is a plain step."""
    if threshold <= 0:
        optimizer.step()
        return
    rms = staleness(optimizer, per_slice)
    scales = {p: (r / threshold).clamp_min(1.0) for p, r in rms.items()}
    peaks = torch.stack([s.max() for s in scales.values()]).tolist() if scales else []  # one device sync, not one per tensor
    shrink = [p for p, peak in zip(scales, peaks) if peak > 1]
    before = {p: p.detach().clone() for p in shrink}
    optimizer.step()
    with torch.no_grad():
        for p in shrink:
            s = scales[p]
            s = s.view(-1, *[1] * (p.dim() - 1)) if s.dim() else s
            p.copy_(before[p] + (p - before[p]) / s.to(p.dtype))
