"""One readable training loop: warmup-stable-decay learning rate, AdamW, answer-only loss.

Defaults are the paper's (appendix C.3): AdamW betas (0.9, 0.99), eps 1e-12, weight decay 0.1,
gradient clipping at 1.0, no dropout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from selfimprove import distributed, hardware
from selfimprove.data import IGNORE
from selfimprove.errors import UserError
from selfimprove.generate import autocast
from selfimprove.grad_filter import amplify_slow_gradients, store_new_averages
from selfimprove.model import Transformer
from selfimprove.update_clip import clipped_step


class DivergedError(UserError):
    """Training produced a NaN or infinite loss."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimizer steps in this phase (round 0, or one self-improvement round)
    batch_size: int = 128
    lr: float = 1e-3  # peak learning rate
    warmup_steps: int = 0  # linear ramp from 0 to lr
    decay_steps: int = 0  # final steps that decay lr to min_lr_ratio * lr (the rest is constant)
    decay_shape: str = "linear"  # "linear" or "cosine"
    min_lr_ratio: float = 0.01
    weight_decay: float = 0.1  # on matrices and embeddings only, never on norms
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-12  # the paper's; with a fresh optimizer pair it with a warmup
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    # Update clipping (update_clip.py): a tensor whose gradient outgrows its running second moment
    # takes a step at lr / (rms / update_clip); 0 disables (the paper's plain AdamW), 1 is StableAdamW's.
    update_clip: float = 0.0
    # Slow-gradient amplification (grad_filter.py): g + gain * EMA_decay(g) before clipping; gain 0 = off.
    grad_ema_decay: float = 0.98
    grad_ema_gain: float = 0.0
    precision: str = "auto"  # "auto" (bf16 where the hardware has it), "bf16" or "fp32"
    # Steps whose batches are length-bucketed together. 8 wastes ~4x less compute on padding, but
    # length-sorted batches slowed the NoPE "click" on reverse addition by ~1,000 steps
    # (docs/EXPERIMENTS.md), so the default keeps the exact mixture in every batch.
    bucket: int = 1
    checkpoint_every: int = 250  # save a resumable state every N steps

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.bucket < 1:
            raise ValueError("steps must be >= 0 and batch_size, bucket >= 1")
        if self.warmup_steps + self.decay_steps > self.steps:
            raise ValueError(
                f"warmup_steps + decay_steps ({self.warmup_steps} + {self.decay_steps}) exceed steps ({self.steps})"
            )
        if not 0 <= self.grad_ema_decay < 1 or self.grad_ema_gain < 0:
            raise ValueError(f"grad_ema_decay must be in [0, 1) and grad_ema_gain >= 0, got "
                             f"{self.grad_ema_decay} and {self.grad_ema_gain}")
        if self.decay_shape not in ("linear", "cosine"):
            raise ValueError(f"decay_shape must be 'linear' or 'cosine', got {self.decay_shape!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}")
        if self.update_clip < 0:
            raise ValueError(f"update_clip must be >= 0 (0 disables), got {self.update_clip}")
        if not 0 <= self.min_lr_ratio <= 1 or self.lr <= 0:
            raise ValueError("lr must be > 0 and min_lr_ratio within [0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Warmup-stable-decay: linear warmup, constant, then decay over the last ``decay_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_start = cfg.steps - cfg.decay_steps
    if step < decay_start:
        return cfg.lr
    progress = (step - decay_start + 1) / cfg.decay_steps  # (0, 1]
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.decay_shape == "cosine":
        return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr - (cfg.lr - floor) * progress


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on CUDA with bf16 support, or on a CPU with native bf16 whose bf16 matmuls
    were measured clearly faster than fp32 (``hardware.MatmulRates.bf16_is_faster``); else fp32.
    A run pins what ``auto`` resolved to (``runtime.pin_precisions``), so a resume does not measure
    again."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if hardware.native_bf16() and hardware.matmul_rates().bf16_is_faster else "fp32"


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    trained = [p for p in model.parameters() if p.requires_grad]  # a LoRA model trains its adapters only
    decay = [p for p in trained if p.dim() >= 2]
    no_decay = [p for p in trained if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel updates every tensor (on CPU 8 ms a step instead of 22 for the 14M model)
    fused = trained[0].device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=fused)


def continue_optimizer(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> None:
    """An optimizer (``make_optimizer``'s groups: decayed first) goes on into a new phase with the
    phase's betas, eps and weight decay; its moments and step count carry over."""
    for group in optimizer.param_groups:
        group.update(betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
        group["weight_decay"] = cfg.weight_decay if group["weight_decay"] > 0 or group is optimizer.param_groups[0] else 0.0


def answer_loss(model: Transformer, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over answer + EOS positions only (targets of -100 are ignored).

    ``reduction="none"`` gives one loss per position, (B*T,), zero where ignored.
    """
    keep = y != IGNORE  # (B, T): the model computes logits at these positions only
    logits = model(x, keep=keep)  # (N, V)
    loss = F.cross_entropy(logits.float(), y[keep], reduction=reduction)
    if reduction != "none":
        return loss
    return torch.zeros(y.shape, dtype=loss.dtype, device=y.device).masked_scatter(keep, loss).flatten()


def check_finite(values: list[float], where: str, step: int) -> None:
    """``DivergedError`` unless every loss of this step is finite (before the step updates the weights)."""
    if not all(math.isfinite(v) for v in values):
        shown = values[0] if len(values) == 1 else values
        raise DivergedError(f"{where}: the loss became {shown} at step {step}; the last checkpoint before it "
                            f"is kept; lower the learning rate (lr) or raise warmup_steps and rerun")


def checkpoint_due(step: int, cfg: TrainConfig) -> bool:
    """A checkpoint is written after step ``step`` every ``cfg.checkpoint_every`` steps and at the end."""
    return (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps


def close_window(step: int, cfg: TrainConfig, start: int, losses: list, on_losses, on_checkpoint) -> None:
    """After step ``step`` of a loop that began at ``start`` (``losses`` since then): at a checkpoint,
    hand the checkpoint window's losses to ``on_losses(first_step, window)``, then checkpoint. The
    losses go first, so a kill between the two rewrites the window on resume (loss_log.py)."""
    if not checkpoint_due(step, cfg):
        return
    if on_losses is not None:
        first = max(start, step - step % cfg.checkpoint_every)  # the window began at the last checkpoint
        on_losses(first, losses[first - start :])
    if on_checkpoint is not None:
        on_checkpoint(step + 1)


def train_steps(
    model: Transformer,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    get_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    start: int = 0,
    on_checkpoint: Callable[[int], None] | None = None,
    desc: str | None = None,
    where: str = "training",
    on_losses: Callable[[int, list[float]], None] | None = None,
) -> list[float]:
    """Run steps ``start … cfg.steps - 1``; returns their losses.

    A NaN or infinite loss stops training before that step updates the weights
    (``DivergedError``, naming ``where`` and the step); the last checkpoint is the last good state.

    ``on_checkpoint(next_step)`` is called every ``cfg.checkpoint_every`` steps and at the end,
    so a killed run resumes from there and draws the same batches (they depend on the step only).
    ``on_losses(first_step, losses)`` gets each checkpoint window's losses just before its checkpoint
    (loss_log.py keeps them).
    """
    from tqdm import tqdm

    device = next(model.parameters()).device
    precision = resolve_precision(cfg.precision, device)
    model.train()
    # Under torchrun DDP averages gradients across ranks; alone, the model trains as it is.
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed.world_size() > 1 else model
    losses: list[float] = []
    quiet = desc is None or not distributed.is_main()
    bar = tqdm(range(start, cfg.steps), desc=desc, disable=quiet, leave=False, unit="step")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        x, y = get_batch(step)
        if net is not model:  # torchrun: every rank draws the same batch and trains on its rows
            x, y = distributed.rows_of_this_rank(x), distributed.rows_of_this_rank(y)
        with autocast(device, precision):
            loss = answer_loss(net, x.to(device), y.to(device))
        loss, mean = distributed.token_weighted(loss, y != IGNORE)  # single process: the loss as it is
        value = mean.item()
        check_finite([value], where, step)
        loss.backward()
        pending = amplify_slow_gradients(optimizer, cfg.grad_ema_decay, cfg.grad_ema_gain) if cfg.grad_ema_gain > 0 else {}
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        clipped_step(optimizer, cfg.update_clip)
        store_new_averages(optimizer, pending)
        optimizer.zero_grad(set_to_none=True)
        losses.append(value)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr_at(step, cfg):.2e}")
        close_window(step, cfg, start, losses, on_losses, on_checkpoint)
    bar.close()
    return losses
