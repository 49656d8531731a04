"""A finished round in two forms: the summary line of metrics.jsonl and the console line.

    >>> record = {"round": 2, "step": 30, "cells": [{"difficulty": 1, "accuracy": 1.0}], "wall_time_s": 90.0}
    >>> stats = {"labelled": 64, "kept": 48, "label_accuracy": 0.75, "kept_accuracy": 0.9, "right_kept": 0.9}
    >>> summary = round_summary(record, stats)
    >>> summary["kept_fraction"], summary["longest_at_99"]
    (0.75, 1)
    >>> round_line(2, [1, 2, 3, 4], stats, summary)
    'round   2 | trained 1..4 | labelled 64 kept 75.0% label acc 75.0% kept acc 90.0% right kept 90.0% | longest >=99%: 1 | 1.5 min'
"""

from __future__ import annotations

from selfimprove.report import longest_at
from selfimprove.tasks.base import difficulty_from_json, format_difficulty


def round_summary(record: dict, stats: dict | None) -> dict:
    """metrics.jsonl's ``"kind": "round"`` line (without the kind) from eval.json's record and the
    round's filter stats (None for round 0)."""
    labelled = stats["labelled"] if stats else 0  # 0: round 0, or the schedule waited
    return {"round": record["round"], "step": record["step"], "longest_at_99": longest_at(record["cells"]),
            "label_accuracy": stats["label_accuracy"] if labelled else None,
            "kept_fraction": stats["kept"] / labelled if labelled else None,
            "wall_time_s": record["wall_time_s"]}


def round_line(r: int, trained: list, stats: dict | None, summary: dict, relabelled: list | None = None) -> str:
    """The console line of round r; ``relabelled``: rounds.relabel's decisions (eval.json), shown with the
    share kept of each difficulty's fresh labels (filter_stats.json)."""
    lo, hi = format_difficulty(trained[0]), format_difficulty(trained[-1])
    parts = [f"round {r:3d}", f"trained {lo}..{hi}"]
    if stats and not stats["labelled"]:
        parts.append("no new data: the schedule waited (consolidation round)")
    elif stats:
        right_kept = stats.get("right_kept")  # absent in run directories written before it
        parts.append(f"labelled {stats['labelled']} kept {stats['kept'] / stats['labelled']:.1%}"
                     f" label acc {stats['label_accuracy']:.1%} kept acc {stats['kept_accuracy']:.1%}"
                     + ("" if right_kept is None else f" right kept {right_kept:.1%}"))
    for decision, counts in zip(relabelled or [], (stats or {}).get("relabel", [])):
        verdict = "replaced" if decision["replaced"] else f"kept the labels at {decision['held_kept_fraction']:.1%}"
        parts.append(f"relabelled {format_difficulty(difficulty_from_json(counts['difficulty']))}: kept "
                     f"{counts['kept'] / max(counts['labelled'], 1):.1%}, {verdict}")
    longest = summary["longest_at_99"]
    parts.append(f"longest >=99%: {'none' if longest is None else longest}")
    parts.append(f"{summary['wall_time_s'] / 60:.1f} min")
    return " | ".join(parts)
