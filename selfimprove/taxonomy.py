"""The shape of wrong answers (paper B.2.2, B.6.2; Figs 13, 23, 24): pure functions of
(expected, answer) text pairs.

Wrong answers are aligned to the expected answer with a minimum edit alignment, as the paper
does, so an answer that skipped one digit reads as one *dropped* digit at that position rather
than as every later digit being wrong::

    expected 7530   answer 730   ->  dropped at position 1, nothing wrong
    expected 7530   answer 7630  ->  wrong digit at position 1, off by +1

Positions are indices into the written answer (reverse addition: least significant first).
``expected`` comes from the oracle: these are diagnostics of a finished round, never inputs to
selection. Chain-of-thought multiplication is compared step by step, mazes by which of the task's
checks failed (``Task.verify``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

MATCH, WRONG, DROPPED, EXTRA = "match", "wrong", "dropped", "extra"


def align(expected: str, got: str) -> list[tuple[str, int | None, int | None]]:
    """Minimum-edit alignment as ``(op, index in expected, index in got)``; ties prefer a wrong
    digit over a drop + insert pair, and a drop later in the answer over one earlier."""
    n, m = len(expected), len(got)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + (expected[i - 1] != got[j - 1]), cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    ops, i, j = [], n, m
    while i or j:  # walk back from the end: diagonal first, so a drop lands as late as the cost allows
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (expected[i - 1] != got[j - 1]):
            ops.append((MATCH if expected[i - 1] == got[j - 1] else WRONG, i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append((DROPPED, i - 1, None))
            i -= 1
        else:
            ops.append((EXTRA, None, j - 1))
            j -= 1
    return ops[::-1]


def first_mismatch(expected: str, got: str) -> int | None:
    """The first position where the texts differ (the shorter one's end counts); None if equal."""
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return i
    return None if len(expected) == len(got) else min(len(expected), len(got))


def digit_error(expected: str, got: str) -> dict:
    """One wrong answer's alignment: dropped / wrong / extra positions and off-by-k of wrong digits."""
    ops = align(expected, got)
    wrong = [(i, j) for op, i, j in ops if op == WRONG]
    return {
        "short": len(got) < len(expected),
        "long": len(got) > len(expected),
        "first_mismatch": first_mismatch(expected, got),
        "dropped": [i for op, i, _ in ops if op == DROPPED],
        "wrong": [i for i, _ in wrong],
        "extra": [j for op, _, j in ops if op == EXTRA],
        # got - expected, for digit pairs only (-9..9): +1 / -1 is a carry slip
        "off_by": [int(got[j]) - int(expected[i]) for i, j in wrong if expected[i].isdigit() and got[j].isdigit()],
    }


def summarise(pairs: Iterable[tuple[str, str]]) -> dict:
    """Counts over the wrong ones of ``(expected, answer)`` pairs (right ones are skipped)."""
    pairs_wrong = [(e, g) for e, g in pairs if e != g]
    errors = [digit_error(e, g) for e, g in pairs_wrong]
    per_position: dict[int, Counter] = {}
    for err in errors:
        for kind in ("dropped", "wrong"):
            for i in err[kind]:
                per_position.setdefault(i, Counter())[kind] += 1
    n = len(errors)
    return {
        "wrong_answers": n,
        "short_share": sum(e["short"] for e in errors) / n if n else None,
        "long_share": sum(e["long"] for e in errors) / n if n else None,
        "per_position": {str(i): {"dropped": c["dropped"], "wrong": c["wrong"]} for i, c in sorted(per_position.items())},
        "off_by": {str(k): c for k, c in sorted(Counter(k for e in errors for k in e["off_by"]).items())},
        "first_mismatch": {str(k): c for k, c in sorted(Counter(e["first_mismatch"] for e in errors).items())},
        "lengths": answer_lengths(pairs_wrong),
    }


def answer_lengths(pairs: Sequence[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """Right length -> {length given: count} over wrong answers. A model that has learnt an absolute
    cap on its answers (every one as long as the longest it was trained on) shows as one column
    for every longer right length (docs/EXPERIMENTS.md, L1)."""
    table: dict[int, Counter] = {}
    for expected, got in pairs:
        table.setdefault(len(expected), Counter())[len(got)] += 1
    return {str(n): {str(k): c for k, c in sorted(row.items())} for n, row in sorted(table.items())}


def cot_steps(answer: str) -> tuple[list[tuple[str, str | None]], str] | None:
    """``"17442+067801(132331)+0075180(1398490)+00091720=13976630"`` -> steps [(partial, running
    sum or None), ...] and the product; None when the text does not have that shape."""
    if answer.count("=") != 1:
        return None
    body, product = answer.split("=")
    steps = []
    for part in body.split("+"):
        match = re.fullmatch(r"(\d+)(?:\((\d+)\))?", part)
        if match is None:
            return None
        steps.append((match.group(1), match.group(2)))
    return steps, product


def cot_error(expected: str, got: str) -> str:
    """Why a chain-of-thought multiplication answer is wrong: ``format``, ``missing_steps``,
    ``extra_steps``, ``wrong_step`` (a partial product or running sum differs) or
    ``wrong_product`` (every step right, the final sum wrong)."""
    want, have = cot_steps(expected), cot_steps(got)
    if have is None or want is None:
        return "format"
    if len(have[0]) < len(want[0]):
        return "missing_steps"
    if len(have[0]) > len(want[0]):
        return "extra_steps"
    if have[0] != want[0]:
        return "wrong_step"
    return "wrong_product"


def first_wrong_step(expected: str, got: str) -> int | None:
    want, have = cot_steps(expected), cot_steps(got)
    if want is None or have is None:
        return None
    return next((i for i, (a, b) in enumerate(zip(want[0], have[0])) if a != b), None)
