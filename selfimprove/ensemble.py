"""k models of one shape as one batched model: the k vote models trained and labelling together.

``stack(models)`` returns a ``Transformer`` whose every weight holds all k models' copies, (k, ...),
and whose batch holds the k models' rows model-major: rows ``m*B … (m+1)*B - 1`` belong to model
m. Each linear layer is one batched product (``bmm``) over the k weight matrices, the embedding
and the norms pick each row's own model's weights, and attention is per row anyway; so the model
code, the KV cache and the decoding mask are the ones ``Transformer`` already uses. What stacking
buys is fewer, larger operations: on a CPU a small model's step is mostly per-operation overhead,
and k separate models pay it k times.

Stacked training equals k separate ``train_steps`` runs: each model's loss is its own mean over its
own answer positions, gradients are clipped per model (its own global norm), and AdamW is
elementwise, so one optimizer over the stacked weights updates each slice exactly as k
optimizers would. ``tests/test_ensemble.py`` checks weights and greedy answers against k separate
models.

Used by round 0's prelude candidates (candidates.py), which checkpoint the stacked weights and
AdamW state as they are, and, with ``rounds.stacked``, by the round loop's k vote models when they
label, probe and are evaluated (``evaluate.answers_of_each``) and train in rounds >= 1
(stacked_rounds.py). Measured on 2 CPU cores (docs/RESULTS.md), stacking pays at small batches
(the demo's model at batch 32: 2 stacked cost 1.6x one, 4 cost 2.7x), not at batch 128 in training
or labelling (k = 5: 0.93-1.06x), whose products already fill a step; so ``rounds.stacked: auto``
stacks on CUDA only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from selfimprove.data import IGNORE
from selfimprove.generate import Decoding, autocast, eval_mode, greedy_batch, in_batches
from selfimprove.model import RMSNorm, Transformer
from selfimprove.train import TrainConfig, check_finite, close_window, lr_at
from selfimprove.update_clip import clipped_step

Batch = tuple[torch.Tensor, torch.Tensor]  # (x, y), each (B, T)


class StackedLinear(nn.Module):
    """k bias-free linear layers; input rows model-major, (k*n, ..., in) -> (k*n, ..., out)."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))  # (k, out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, shape = self.weight.shape[0], x.shape
        y = torch.bmm(x.reshape(k, -1, shape[-1]), self.weight.transpose(1, 2))  # (k, n*..., out)
        return y.reshape(*shape[:-1], self.weight.shape[1])


class StackedEmbedding(nn.Module):
    """k embedding tables; row block m of the ids looks up table m."""

    def __init__(self, tables: Sequence[nn.Embedding]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([t.weight.detach() for t in tables]))  # (k, V, C)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        k, V, C = self.weight.shape
        offset = torch.arange(k, device=idx.device)[:, None] * V  # table m starts at row m*V
        flat = idx.reshape(k, -1) + offset
        return F.embedding(flat, self.weight.reshape(k * V, C)).reshape(*idx.shape, C)


class StackedRMSNorm(nn.Module):
    def __init__(self, norms: Sequence[RMSNorm]) -> None:
        super().__init__()
        self.eps = norms[0].eps
        self.weight = nn.Parameter(torch.stack([n.weight.detach() for n in norms]))  # (k, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, C = self.weight.shape
        y = F.rms_norm(x, (C,), None, self.eps)
        return (y.reshape(k, -1, C) * self.weight[:, None, :]).reshape(x.shape)


STACKED = {nn.Linear: StackedLinear, nn.Embedding: StackedEmbedding, RMSNorm: StackedRMSNorm}


def can_stack(models: Sequence) -> bool:
    """Whether ``stack`` takes these: more than one of this project's ``Transformer`` (a pretrained
    model brings its own decoding), one config, one device."""
    return (len(models) > 1 and all(type(m) is Transformer for m in models) and len({m.cfg for m in models}) == 1
            and len({next(m.parameters()).device for m in models}) == 1)


def stack(models: Sequence[Transformer]) -> Transformer:
    """One model holding copies of all of ``models``' weights (same config); see the module doc."""
    if len({m.cfg for m in models}) != 1:
        raise ValueError("stacked models must share one ModelConfig")
    stacked = copy.deepcopy(models[0])
    parts = [dict(m.named_modules()) for m in models]
    for name, module in list(stacked.named_modules()):
        kind = STACKED.get(type(module))
        if kind is None:
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = stacked.get_submodule(parent_name) if parent_name else stacked
        setattr(parent, attr, kind([p[name] for p in parts]))
    stacked.n_models = len(models)
    return stacked.train(models[0].training)


@torch.no_grad()
def unstack(stacked: Transformer, models: Sequence[Transformer]) -> None:
    """Copy each slice of ``stacked``'s weights back into the matching one of ``models``."""
    for name, weight in stacked.named_parameters():
        for m, model in enumerate(models):
            model.get_parameter(name).copy_(weight[m])


def make_stacked_optimizer(stacked: Transformer, cfg: TrainConfig) -> torch.optim.AdamW:
    """``train.make_optimizer``'s groups, judged by each model's own weight shapes: a stacked
    norm weight is (k, C) but decays like a vector (not at all)."""
    decay = [p for p in stacked.parameters() if p.dim() - 1 >= 2]
    no_decay = [p for p in stacked.parameters() if p.dim() - 1 < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(stacked.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=fused)


def join_batches(batches: Sequence[Batch], pad_id: int) -> Batch:
    """k batches of B rows -> one (k*B, T) batch, right-padded to the longest (pads are never
    targets, and with a causal mask they never reach a real position)."""
    if len({x.shape[0] for x, _ in batches}) != 1:
        raise ValueError("every model's batch must have the same number of rows")
    T = max(x.shape[1] for x, _ in batches)
    xs = [F.pad(x, (0, T - x.shape[1]), value=pad_id) for x, _ in batches]
    ys = [F.pad(y, (0, T - y.shape[1]), value=IGNORE) for _, y in batches]
    return torch.cat(xs), torch.cat(ys)


def scored_positions(y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each model's scored (row, column) positions, padded to one count N per model so the last
    block's stacked layers see k equal groups: (rows, cols, targets), each (k*N,), model-major;
    a padding entry points at its model's first position with target IGNORE."""
    B = y.shape[0] // k
    groups = [(y[m * B : (m + 1) * B] != IGNORE).nonzero(as_tuple=True) for m in range(k)]
    n = max(len(r) for r, _ in groups)
    rows, cols = [], []
    for m, (r, c) in enumerate(groups):
        pad = n - len(r)
        rows.append(torch.cat([r + m * B, torch.full((pad,), m * B, dtype=r.dtype, device=r.device)]))
        cols.append(torch.cat([c, torch.zeros(pad, dtype=c.dtype, device=c.device)]))
    rows_, cols_ = torch.cat(rows), torch.cat(cols)
    real = torch.cat([torch.arange(n, device=y.device) < len(r) for r, _ in groups])
    return rows_, cols_, torch.where(real, y[rows_, cols_], IGNORE)


def stacked_answer_loss(stacked: Transformer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each model's answer-only loss (mean over its own scored positions), shape (k,). As in
    ``train.answer_loss`` the last MLP and the head run at the scored positions only."""
    k = stacked.n_models
    rows, cols, targets = scored_positions(y, k)
    logits = stacked(x, keep=(rows, cols))  # (k*N, V)
    per_position = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="none")
    scored = (targets != IGNORE).reshape(k, -1).sum(1)
    return per_position.reshape(k, -1).sum(1) / scored


def clip_per_model(stacked: Transformer, max_norm: float) -> None:
    """``clip_grad_norm_`` applied to each model's slice of the gradients separately."""
    grads = [p.grad for p in stacked.parameters() if p.grad is not None]
    norms = torch.stack([g.flatten(1).float().pow(2).sum(1) for g in grads]).sum(0).sqrt()  # (k,)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)).to(g.dtype))


def stacked_train_steps(
    stacked: Transformer,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    get_batches: Callable[[int], Sequence[Batch]],
    pad_id: int,
    precision: str,
    start: int = 0,
    on_checkpoint: Callable[[int], None] | None = None,
    desc: str | None = None,
    where: str = "stacked training",
    on_losses: Callable[[int, list[list[float]]], None] | None = None,
) -> list[list[float]]:
    """``train.train_steps`` for all k models at once: ``get_batches(step)`` gives each model's own
    batch; returns each step's k losses. ``on_checkpoint(next_step)`` is called every
    ``cfg.checkpoint_every`` steps and at the end, just after ``on_losses(first_step, window)`` with
    the window's per-step k losses; a NaN or infinite loss of any model stops before
    that step updates the weights (``DivergedError``). Single process only: no DDP."""
    from tqdm import tqdm

    device = next(stacked.parameters()).device
    stacked.train()
    losses = []
    bar = tqdm(range(start, cfg.steps), desc=desc, disable=desc is None, leave=False, unit="step")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        x, y = join_batches(get_batches(step), pad_id)
        with autocast(device, precision):
            loss = stacked_answer_loss(stacked, x.to(device), y.to(device))
        values = loss.tolist()
        check_finite(values, where, step)
        loss.sum().backward()  # model m's weights get only model m's gradient
        if cfg.grad_clip > 0:
            clip_per_model(stacked, cfg.grad_clip)
        clipped_step(optimizer, cfg.update_clip, per_slice=True)  # each model's slice on its own
        optimizer.zero_grad(set_to_none=True)
        losses.append(values)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{min(values):.4f}", lr=f"{lr_at(step, cfg):.2e}")
        close_window(step, cfg, start, losses, on_losses, on_checkpoint)
    bar.close()
    return losses


def stacked_greedy_batch(stacked: Transformer, prompts: Sequence[Sequence[int]], limits: Sequence[int], eos_id: int,
                         pad_id: int, precision: str = "fp32") -> list[list[list[int]]]:
    """Every model's greedy answers to the same prompts: ``out[m][i]`` is what
    ``generate.greedy_batch`` gives for model m and prompt i. ``greedy_batch`` decodes the stacked
    model itself; the prompts go in once per model, model-major."""
    k, B = stacked.n_models, len(prompts)
    rows = greedy_batch(stacked, list(prompts) * k, list(limits) * k, eos_id, pad_id, precision)
    return [rows[m * B : (m + 1) * B] for m in range(k)]


def stacked_labels(stacked: Transformer, prompts: Sequence[Sequence[int]], limits: Sequence[int], eos_id: int,
                   pad_id: int, decoding: Decoding, progress: str | None = None) -> list[list[list[int]]]:
    """``generate.greedy_labels`` for every model at once (``batch_size`` prompts per model):
    ``out[m][i]`` is model m's answer to prompt i."""

    def decode(ps: list, ls: list) -> list[tuple[list[int], ...]]:  # per prompt: the k models' answers
        return list(zip(*stacked_greedy_batch(stacked, ps, ls, eos_id, pad_id, decoding.precision)))

    with eval_mode(stacked):
        per_prompt = in_batches(decode, prompts, limits, decoding.batch_size, progress)
    return [[answers[m] for answers in per_prompt] for m in range(stacked.n_models)]
