"""The benchmark's problems: a round-0 training stream and 17-digit labelling prompts."""

from __future__ import annotations

import random

from selfimprove.data import TokenSet, build_token_set
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
