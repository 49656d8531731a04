"""A round's labels as records: the rows of labels.jsonl, filter_stats.json, the kept training sets.

``labelling.label_round`` returns every owner's labelled items; here they become one row each
(``docs/RUN_DIR.md``), get the configured label noise injected, and are counted::

    rows = label_rows(task, items)                  # + "correct", by the oracle, for the logs
    rows = with_noise(cfg, task, r, rows)           # rounds.noise / rounds.random_labels
    stats = label_stats(r, difficulties, rows, filter_stats)
    d_r = kept_set(tok, rows, owner)                # what the owner's model trains on

Ground truth enters only as the diagnostic ``correct`` column (``labelling.diagnose``), which no
filter or schedule reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from selfimprove.config import RunConfig
from selfimprove.data import TokenSet, build_token_set
from selfimprove.filters import Labelled
from selfimprove.labelling import diagnose
from selfimprove.noise import inject
from selfimprove.tasks.base import Difficulty, Task, difficulty_to_json
from selfimprove.tokenizer import Tokenizer


def label_rows(task: Task, items_per_owner: Sequence[Sequence[Labelled]]) -> list[dict]:
    """One labels.jsonl row per labelled item, owner by owner."""
    rows = []
    for owner, items in enumerate(items_per_owner):
        flags = diagnose(task, items)  # ground truth, for the logs only
        for item, ok in zip(items, flags):
            rows.append({"model": owner, "prompt": item.prompt, "difficulty": difficulty_to_json(item.difficulty),
                         "label": item.label, "answers": list(item.answers), "kept": item.dropped_by is None,
                         "dropped_by": item.dropped_by, "correct": ok})
    return rows


def with_noise(cfg: RunConfig, task: Task, r: int, rows: list[dict]) -> list[dict]:
    """The rows with rounds.noise / rounds.random_labels injected into their kept labels
    (``noise.py``); corrupted rows are re-scored by ground truth, for the logs only."""
    rows = inject(rows, [cfg.rounds.noise, cfg.rounds.random_labels], cfg.seed, r)
    for row in rows:
        if "noise" in row:
            row["correct"] = task.verify(task.parse(row["prompt"]), row["label"]).ok
    return rows


def filter_scores(rows: list[dict]) -> dict:
    """Two sides of the filters on ``rows``, both by ground truth and for the logs only: ``kept_accuracy``
    (the share of kept labels that are right: what the model trains on; 0 when none was kept) and
    ``right_kept`` (the share of right labels kept: None where none was right). A filter that keeps few
    labels because few are right is exact; one that also drops right labels leaves part of a difficulty
    unlabelled, and what it leaves out is what its labeller found hard (docs/EXPERIMENTS.md K1, F8)."""
    kept = [row for row in rows if row["kept"]]
    right, kept_right = sum(row["correct"] for row in rows), sum(row["correct"] for row in kept)
    return {"kept_accuracy": kept_right / max(len(kept), 1), "right_kept": kept_right / right if right else None}


def label_stats(r: int, difficulties: Sequence[Difficulty], rows: list[dict], filter_stats: list[list[dict]]) -> dict:
    """filter_stats.json: counts, diagnostic accuracies (``filter_scores``) and each owner's filter statistics."""
    labelled, kept = len(rows), sum(row["kept"] for row in rows)
    return {"round": r, "difficulties": [difficulty_to_json(d) for d in difficulties], "labelled": labelled,
            "kept": kept, "label_accuracy": sum(row["correct"] for row in rows) / max(labelled, 1),
            **filter_scores(rows),
            "filters": filter_stats[0] if len(filter_stats) == 1 else [s for owner in filter_stats for s in owner]}


def kept_set(tok: Tokenizer, rows: list[dict], owner: int) -> TokenSet | None:
    """The kept labels of one owner (from a round's labels.jsonl rows) as a training set."""
    rows = [x for x in rows if x["model"] == owner and x["kept"]]
    levels = len({json.dumps(x["difficulty"]) for x in rows})
    if not rows:  # nothing survived the filters: train on the older sets only
        return None
    return build_token_set(tok, [(x["prompt"], x["label"]) for x in rows], levels)
