"""The benchmark's problems: a round-0 training stream and 17-digit labelling prompts."""

from __future__ import annotations

import random

import torch

from selfimprove.data import IGNORE, TokenSet, build_token_set
from selfimprove.model import ModelConfig
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer


def round0_sets(tok: Tokenizer, n: int, seed: int) -> list[TokenSet]:
    """Oracle-labelled reverse additions, operand lengths 1-16 drawn independently."""
    task = get_task("reverse_addition")
    rng = random.Random(seed)
    problems = [task.sample_initial(1, 16, rng) for _ in range(n)]
    return [build_token_set(tok, [(task.prompt(p), task.solve(p)) for p in problems], levels=16)]


def label_prompts(tok: Tokenizer, n: int, seed: int) -> tuple[list[list[int]], int]:
    """n prompts of 17-digit reverse addition and their answer bound (18 tokens)."""
    task = get_task("reverse_addition")
    rng = random.Random(seed)
    prompts = [[tok.bos_id] + tok.encode(task.prompt(task.sample(17, rng))) for _ in range(n)]
    return prompts, task.max_answer_len(17)


def step_flops(cfg: ModelConfig, x: torch.Tensor, y: torch.Tensor, pad_id: int, answer_only: bool) -> float:
    """Model FLOPs of one training step on batch (x, y), as in throughput.py's docstring: 6 per
    matmul weight per non-pad input token (the last MLP and the head at scored positions only
    with ``answer_only``), plus causal attention, 6 C T^2 per layer and sequence."""
    C, F_, L, V = cfg.n_embd, cfg.mlp_hidden, cfg.n_layer, cfg.vocab_size
    tokens = int((x != pad_id).sum())
    scored = int((y != IGNORE).sum())
    lengths = (x != pad_id).sum(1).double()
    last = 3 * C * F_ + C * V  # weights of the last MLP and the head
    body = L * (4 * C * C + 3 * C * F_) + C * V - last
    matmul = 6 * (body * tokens + last * (scored if answer_only else tokens))
    attention = 6 * C * L * float((lengths**2).sum())
    return matmul + attention
