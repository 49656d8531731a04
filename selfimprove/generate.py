"""Batched greedy decoding with a KV cache: how a model labels problems and how it is evaluated.

Prompts of different lengths share a batch left-padded, so every row's next token sits in the
last column. Pads are masked out of attention; with NoPE there is no position to shift, so a
left-padded row computes exactly what it would alone. Each row stops at EOS or at its own bound
(``evaluate.decoding_bound``: one past ``Task.max_answer_len``, never the true answer's length,
so an answer that does not end is seen to be too long), finished rows leave the batch, and
decoding ends as soon as every row has finished.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import torch

from selfimprove.model import KVCache, Transformer

PREFILL_TOKENS = 2048  # prompt tokens per forward pass of the prefill (a CPU cache-size choice)
T = TypeVar("T")  # what a decoder gives per prompt: its tokens, or (stacked) every model's


def autocast(device: torch.device, precision: str):
    """bf16 autocast context for ``precision == "bf16"``; a no-op for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def greedy_batch(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    limits: Sequence[int],
    eos_id: int,
    pad_id: int,
    precision: str = "fp32",
) -> list[list[int]]:
    """Greedy continuations of ``prompts`` (token ids), each at most ``limits[i]`` tokens.

    Returns the generated tokens of each row without the EOS. Example: prompts ``[[1, 5, 7]]``,
    limits ``[4]`` -> ``[[9, 9, 3]]`` if the model then emits 9, 9, 3, EOS.

    A stacked model (``ensemble.stack``) answers row block m with its model m, so its batch can be
    neither split nor shrunk: the prompt pass is one piece and finished rows stay in the batch,
    unread (``ensemble.stacked_greedy_batch`` lays the rows out).
    """
    whole = getattr(model, "n_models", 1) > 1
    device = next(model.parameters()).device
    B, P = len(prompts), max(len(p) for p in prompts)
    max_new = max(limits)
    # The cache keeps the parameters' dtype (fp32) under bf16 autocast too: attention runs in fp32.
    cache = KVCache(model.cfg, B, P + max_new, device, next(model.parameters()).dtype)

    idx = torch.full((B, P), pad_id, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        idx[row, P - len(prompt) :] = torch.as_tensor(prompt, dtype=torch.long)
        cache.valid[row, P - len(prompt) : P] = True
    idx = idx.to(device)
    positions = (cache.valid[:, :P].long().cumsum(1) - 1).clamp(min=0)  # (B, P), RoPE only

    out: list[list[int]] = [[] for _ in range(B)]
    rows = torch.arange(B, device=device)  # original row of each active batch row
    limit = torch.as_tensor(limits, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)  # rows kept in the batch after their end
    with autocast(device, precision):
        # The prompt pass runs in row chunks of about PREFILL_TOKENS tokens: at 256 x 37 tokens in
        # one piece the MLP's (B*T, 2F) activations spill out of the CPU caches and the
        # up-projection and SiLU ran at 2/3 and 1/6 of their in-cache speed.
        if whole:
            logits = stacked_prefill(model, idx, cache, positions)
        else:
            chunk = max(1, PREFILL_TOKENS // P)
            logits = torch.cat([
                model(idx[s : s + chunk], cache.rows(s, s + chunk), positions[s : s + chunk], last_only=True)
                for s in range(0, B, chunk)
            ])  # (B, 1, V)
        cache.length = P
        for step in range(max_new):
            token = logits[:, -1].argmax(-1)  # (B,)
            done = finished | (token == eos_id) | (limit[rows] <= step)
            for row, tok in zip(rows[~done].tolist(), token[~done].tolist()):
                out[row].append(tok)
            if step == max_new - 1 or bool(done.all()):
                break
            if whole:
                finished = done
            elif bool(done.any()):
                keep = (~done).nonzero().squeeze(1)
                rows, token, positions, finished = rows[keep], token[keep], positions[keep], finished[keep]
                cache.select(keep)
            cache.valid[:, cache.length] = True
            positions = positions[:, -1:] + 1
            logits = model(token[:, None], cache, positions=positions)  # (B', 1, V)
    return out


def stacked_prefill(model: Transformer, idx: torch.Tensor, cache: KVCache, positions: torch.Tensor) -> torch.Tensor:
    """The prompt pass of a stacked model (k row blocks, model-major) in chunks, as ``greedy_batch``
    chunks one model's: each chunk takes the same rows of every block (the stacked layers need k
    equal blocks), as many per model as one model's chunk holds, fills a cache of its own and copies
    it into ``cache``'s rows. In one piece, long prompts of k models at once spill the CPU's caches
    and materialise every row's attention scores: a toy maze-nodes evaluation (k = 5, prompts of
    ~300 tokens) ran 4x slower and peaked at 4.4 GB instead of 0.6. Returns the last position's
    logits, (B, 1, V)."""
    k, (B, P) = model.n_models, idx.shape
    per_model = B // k
    chunk = max(1, PREFILL_TOKENS // P)
    logits = None
    for s in range(0, per_model, chunk):
        rows = torch.cat([torch.arange(m * per_model + s, m * per_model + min(s + chunk, per_model)) for m in range(k)])
        rows = rows.to(idx.device)
        part = KVCache(model.cfg, len(rows), P, idx.device, cache.k.dtype)
        part.valid.copy_(cache.valid[rows, :P])
        out = model(idx[rows], part, positions[rows], last_only=True)  # (k*c, 1, V)
        if logits is None:
            logits = out.new_empty(B, *out.shape[1:])
        logits[rows] = out
        cache.k[:, rows, :, :P] = part.k
        cache.v[:, rows, :, :P] = part.v
    return logits


def length_sorted_chunks(prompts: Sequence[Sequence[int]], limits: Sequence[int], batch_size: int):
    """Indices of ``prompts`` in chunks of ``batch_size``, shortest prompts (then answers) first:
    prompts of similar length share a batch, so padding (wasted compute) stays small.

    >>> list(length_sorted_chunks([[1, 2, 3], [1], [1, 2]], [4, 4, 4], 2))
    [[1, 2], [0]]
    """
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), limits[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """``model.eval()`` for the block, then the training flag it had before."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class Decoding:
    """How a caller decodes: prompts per batch and the autocast precision. A run holds two,
    labelling's (``rounds.label_batch_size``) and evaluation's (``eval.batch_size``), both at its
    inference precision. The batch size never changes an answer (batched == one by one); the
    precision may (bf16 rounds differently from fp32), and so may stacking k models (the same
    products, batched: the last bits can differ)."""

    batch_size: int = 256
    precision: str = "fp32"  # fp32 | bf16 (runtime.inference_precision resolves "auto")
    # k models of one shape answer as one stacked model (ensemble.py; evaluate.answers_of_each)
    stacked: bool = True


def greedy_labels(model: Transformer, prompts: Sequence[Sequence[int]], limits: Sequence[int], eos_id: int,
                  pad_id: int, decoding: Decoding = Decoding(), progress: str | None = None) -> list[list[int]]:
    """``greedy_batch`` over any number of prompts, in order, batching prompts of similar length."""
    # A pretrained model (hf_backend.PretrainedLM) brings its own cache and decoding loop.
    decode = model.greedy_batch if hasattr(model, "greedy_batch") else partial(greedy_batch, model)
    with eval_mode(model):
        return in_batches(lambda ps, ls: decode(ps, ls, eos_id, pad_id, decoding.precision), prompts, limits,
                          decoding.batch_size, progress)


def in_batches(decode: Callable[[list, list], Sequence[T]], prompts: Sequence[Sequence[int]], limits: Sequence[int],
               batch_size: int, progress: str | None = None) -> list[T]:
    """``decode(prompts, limits)`` (one result per prompt) over batches of ``batch_size`` prompts
    of similar length (``length_sorted_chunks``); the results in the order of ``prompts``."""
    from tqdm import tqdm

    results: list = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc=progress, disable=progress is None, leave=False, unit="prob")
    for chunk in length_sorted_chunks(prompts, limits, batch_size):
        outs = decode([prompts[i] for i in chunk], [limits[i] for i in chunk])
        for i, out in zip(chunk, outs):
            results[i] = out
        bar.update(len(chunk))
    bar.close()
    return results
