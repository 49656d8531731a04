"""Exact-match accuracy per difficulty cell: one of the two places ground truth may be used.

Evaluation problems come from their own seed stream (``eval/<seed>/<difficulty>``), disjoint from
round-0 data and from the problems the model labels, and are the same in every round so rounds
are compared on identical problems. Tasks with verifier checks (mazes) also record, per cell,
the fraction of answers passing each check (format, move and end validity: paper Figs. 38-39).

The paper's accelerated schedule probes with evaluation accuracy; ``accuracy_probe`` draws its
problems from a stream of its own per round, so the schedule never chooses on the very problems
the evaluation then reports.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from selfimprove import distributed
from selfimprove.generate import Decoding, greedy_labels
from selfimprove.tasks.base import Difficulty, Task, difficulty_to_json, format_difficulty
from selfimprove.tokenizer import Tokenizer


def grid(low: Difficulty, high: Difficulty) -> list[Difficulty]:
    """Every difficulty between ``low`` and ``high`` on each axis: 3, 5 -> [3, 4, 5];
    (1, 1), (2, 3) -> [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]."""
    if isinstance(low, int):
        return list(range(low, high + 1))
    return list(itertools.product(*(range(a, b + 1) for a, b in zip(low, high))))


def eval_problems(task: Task, difficulty: Difficulty, n: int, seed: int, stream: str = "eval") -> list:
    # String seeds are hashed deterministically by random.Random, across processes and machines.
    rng = random.Random(f"{stream}/{seed}/{format_difficulty(difficulty)}")
    return [task.sample(difficulty, rng) for _ in range(n)]


def decoding_bound(task: Task, difficulty) -> int:
    """Tokens a model may generate for a problem of ``difficulty``: one past ``max_answer_len``.

    Decoding stops at EOS or at this bound. Were the bound ``max_answer_len`` itself, a model that
    gives the right answer and then does not stop (``S>E>3>...`` for a 1-hop maze, one digit too
    many in a copy) would be cut back to exactly the right answer and scored right; with one token
    more, an answer that has not ended by then is longer than any right one and is scored wrong.
    """
    return task.max_answer_len(difficulty) + 1


def answer(model, task: Task, tok: Tokenizer, problems: Sequence, decoding: Decoding, progress: str | None = None) -> list[str]:
    """The model's greedy answer text for each problem, bounded by ``decoding_bound``.

    Under torchrun each rank answers its share and every rank gets all answers back, in order.
    """
    return decode_problems(task, tok, problems, progress, lambda prompts, limits, shown: [
        greedy_labels(model, prompts, limits, tok.eos_id, tok.pad_id, decoding, shown)])[0]


def decode_problems(task: Task, tok: Tokenizer, problems: Sequence, progress: str | None, decode) -> list[list[str]]:
    """Each problem's prompt and bound handed to ``decode(prompts, limits, progress)``, which gives
    one list of token rows per model; returns each model's answer texts. Under torchrun each rank
    decodes its share and every rank gets all answers back, in order."""
    mine = distributed.shard(problems)
    prompts = [[tok.bos_id] + tok.encode(task.prompt(p)) for p in mine]
    limits = [decoding_bound(task, task.difficulty(p)) for p in mine]
    outs = decode(prompts, limits, progress if distributed.is_main() else None)
    return [distributed.gather([tok.decode(o) for o in rows], len(problems)) for rows in outs]


def answers_of_each(models: Sequence, task: Task, tok: Tokenizer, problems: Sequence, decoding: Decoding,
                    progress: str | None = None) -> list[list[str]]:
    """``answer`` for each of ``models``: ``out[m][i]`` is model m's answer to problem i.

    With ``decoding.stacked``, k > 1 models of one shape decode as one stacked model (ensemble.py):
    ``batch_size`` prompts per model, so each step runs its operations once on k times the rows
    instead of k times - what a k times larger batch would do for one model, with k times its
    memory. Where a step is bound by launching operations (a GPU, small models, few problems) that
    saves up to k times; where the products and memory traffic dominate (a CPU) it does not.
    Greedy answers are each model's own (``tests/test_ensemble.py``); only the last bits of the
    products may round differently, as any change of batch shape can.
    """
    from selfimprove.ensemble import can_stack, stack, stacked_labels

    if len(models) == 1:
        return [answer(models[0], task, tok, problems, decoding, progress)]
    if not (decoding.stacked and can_stack(models)):
        return [answer(m, task, tok, problems, decoding, progress and f"{progress} m{i}") for i, m in enumerate(models)]
    stacked = stack(models)
    return decode_problems(task, tok, problems, progress, lambda prompts, limits, shown: stacked_labels(
        stacked, prompts, limits, tok.eos_id, tok.pad_id, decoding, shown))


def evaluate(model, task: Task, tok: Tokenizer, cells: Sequence[Difficulty], n: int, seed: int, decoding: Decoding,
             progress: str | None = None, stream: str = "eval") -> list[dict]:
    """``[{"difficulty": d, "n": n, "accuracy": a}, ...]`` for each cell, exact match; with
    ``"checks": {"format": f, "moves": m, "end": e, "repeat": r}`` (pass rates) for maze cells."""
    return evaluate_each([model], task, tok, cells, n, seed, decoding, progress, stream)[0]


def evaluate_each(models: Sequence, task: Task, tok: Tokenizer, cells: Sequence[Difficulty], n: int, seed: int,
                  decoding: Decoding, progress: str | None = None, stream: str = "eval") -> list[list[dict]]:
    """``evaluate`` for each of ``models`` on the same problems (stacked, see ``answers_of_each``)."""
    problems = {d: eval_problems(task, d, n, seed, stream) for d in cells}
    flat = [p for d in cells for p in problems[d]]
    return [score_cells(task, cells, problems, answers, n)
            for answers in answers_of_each(models, task, tok, flat, decoding, progress)]


def score_cells(task: Task, cells: Sequence[Difficulty], problems: dict, answers: Sequence[str], n: int) -> list[dict]:
    """One model's answers (in ``cells`` order, n per cell) scored against the oracle."""
    check = getattr(task, "checks", None)
    results, offset = [], 0
    for d in cells:
        pairs = list(zip(problems[d], answers[offset : offset + n]))
        cell = {"difficulty": difficulty_to_json(d), "n": n, "accuracy": sum(task.verify(p, a).ok for p, a in pairs) / n}
        if check is not None:
            passed = [check(p, a) for p, a in pairs]
            cell["checks"] = {name: sum(c[name] for c in passed) / n for name in passed[0]}
        results.append(cell)
        offset += n
    return results


def accuracy_probe(models: Sequence, task: Task, tok: Tokenizer, n: int, seed: int, round_: int, decoding: Decoding):
    """``probe(d)`` = the models' mean exact-match accuracy at ``d`` on ``n`` problems of the
    stream ``accuracy-probe/<round>`` (ground truth: the paper's accelerated schedule)."""

    def probe(difficulty: Difficulty) -> float:
        runs = evaluate_each(models, task, tok, [difficulty], n, seed, decoding, stream=f"accuracy-probe/{round_}")
        return sum(r[0]["accuracy"] for r in runs) / len(runs)

    return probe
