"""One round's self-labelling: fresh problems -> every model's answers -> filters. No oracle.

Nothing in this module may call ``Task.solve`` (the oracle firewall; a test runs it with
``solve`` made to raise). Self-labelled data accuracy is measured afterwards, by ``diagnose``,
for the logs only.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from selfimprove.consistency import twins, twins_agree
from selfimprove.evaluate import answer, answers_of_each, eval_problems
from selfimprove.filters import Filter, Labelled, apply_filters, twin_counts
from selfimprove.generate import Decoding
from selfimprove.tasks.base import Difficulty, Task, format_difficulty


def fresh_problems(task: Task, difficulties: Sequence[Difficulty], n: int, seed: int, round_: int, owner: int,
                   stream: str = "label") -> list:
    """``n`` problems spread evenly over ``difficulties``, from the labelling seed stream (disjoint
    from evaluation's and from round 0's; ``stream="relabel"``: rounds.relabel's, disjoint from it)."""
    if not difficulties:  # the schedule chose to wait this round
        return []
    rng = random.Random(f"{stream}/{seed}/{round_}/{owner}")
    return [task.sample(difficulties[i % len(difficulties)], rng) for i in range(n)]


def label_round(
    models: Sequence,
    task: Task,
    tok,
    problems_per_owner: Sequence[Sequence],
    filters: Sequence[Filter],
    shared_label: bool,
    seed: int,
    round_: int,
    decoding: Decoding,
) -> tuple[list[list[Labelled]], list[list[dict]]]:
    """Label each owner's problems, filter, and return ``(items per owner, filter stats per owner)``.

    Every model answers every owner's problems (majority voting needs all k answers). The label of
    an owner's problem is that owner's answer, or with ``shared_label`` the most common answer.
    """
    counts = twin_counts(filters)  # None: no filter reads consistency twins
    flat = [p for problems in problems_per_owner for p in problems]
    answers = answers_of_each(models, task, tok, flat, decoding, progress=f"label r{round_}")
    all_items, all_stats, offset = [], [], 0
    for owner, problems in enumerate(problems_per_owner):
        items = []
        for j, problem in enumerate(problems):
            votes = tuple(a[offset + j] for a in answers)
            label = Counter(votes).most_common(1)[0][0] if shared_label else votes[owner]
            items.append(Labelled(task.prompt(problem), task.difficulty(problem), label, votes if len(models) > 1 else ()))
        if counts is not None:
            check_twins(models[0 if shared_label else owner], task, tok, problems, items, seed, round_, owner,
                        decoding, *counts)
        _, stats = apply_filters(items, filters, task)
        all_items.append(items)
        all_stats.append(stats)
        offset += len(problems)
    return all_items, all_stats


def check_twins(model, task: Task, tok, problems, items: list[Labelled], seed, round_, owner, decoding: Decoding,
                shifts: int = 0, cuts: int = 0, splits: int = 0, plain: bool = True) -> None:
    """Sets ``twins_agree`` on every item: the labelling model answers each problem's twins."""
    rng = random.Random(f"twins/{seed}/{round_}/{owner}")
    checks = [(item.label, twins(task, p, rng, shifts, cuts, splits, plain)) for item, p in zip(items, problems)]
    agree = twins_agree(checks, lambda prompts: answer(model, task, tok, [task.parse(q) for q in prompts], decoding,
                                                       progress=f"twins r{round_} m{owner}"))
    for item, ok in zip(items, agree):
        item.twins_agree = ok


def agreement_probe(models: Sequence, task: Task, tok, n: int, seed: int, round_: int, decoding: Decoding,
                    shifts: int = 0, cuts: int = 0, splits: int = 0, plain: bool = True):
    """Label-free difficulty probe: the fraction of fresh problems on which the k models give the
    same answer (with one model: on which its answers pass the consistency twins, ``shifts``
    shifted, ``cuts`` cut and ``splits`` split ones included, the task's own ones unless not
    ``plain``)."""

    def probe(difficulty: Difficulty) -> float:
        problems = eval_problems(task, difficulty, n, seed, stream=f"probe/{round_}")
        answers = answers_of_each(models, task, tok, problems, decoding)
        if len(models) > 1:
            return sum(len(set(votes)) == 1 for votes in zip(*answers)) / n
        items = [Labelled(task.prompt(p), difficulty, a) for p, a in zip(problems, answers[0])]
        check_twins(models[0], task, tok, problems, items, seed, round_, f"probe{format_difficulty(difficulty)}", decoding,
                    shifts, cuts, splits, plain)
        return sum(bool(i.twins_agree) for i in items) / n

    return probe


def diagnose(task: Task, items: Sequence[Labelled]) -> list[bool]:
    """Which labels are correct, by the oracle. For logs and plots only; never for selection."""
    return [task.verify(task.parse(i.prompt), i.label).ok for i in items]
