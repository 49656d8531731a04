"""Amplify the slow part of the gradient (an exponential moving average) before the optimizer step.

A hypothesis for the round-0 "click" (docs/EXPERIMENTS.md, session 16): the general rule is a
slowly varying direction in the gradient that the step-to-step noise of a small batch hides, as
in grokking. Adding ``gain`` times an EMA of past gradients (Lee et al., 2024, "Grokfast")
strengthens that direction. The EMA lives in the optimizer's state (``grad_ema``), so it is
checkpointed with the AdamW moments and a resumed run continues it exactly.
"""

from __future__ import annotations

import torch

PendingAverages = dict[torch.nn.Parameter, torch.Tensor]


def amplify_slow_gradients(optimizer: torch.optim.Optimizer, decay: float, gain: float) -> PendingAverages:
    """``g <- g + gain * ema`` with ``ema <- decay * ema + (1 - decay) * g``, and ``ema = g`` the first time.

    AdamW initialises a parameter's state only when that state is empty, so a first average cannot be
    stored before the optimizer's first step: it is returned, for ``store_new_averages`` after it."""
    pending: PendingAverages = {}
    with torch.no_grad():
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                ema = optimizer.state[p].get("grad_ema") if p in optimizer.state else None
                if ema is None:
                    ema = pending[p] = p.grad.detach().clone()
                else:
                    ema.mul_(decay).add_(p.grad, alpha=1 - decay)
                p.grad.add_(ema, alpha=gain)
    return pending


def store_new_averages(optimizer: torch.optim.Optimizer, pending: PendingAverages) -> None:
    for p, ema in pending.items():
        optimizer.state[p]["grad_ema"] = ema
