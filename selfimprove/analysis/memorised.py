"""``selfimprove analyze memorised``: do later models repeat the wrong labels they trained on
(paper Fig 26), and how does the accuracy of each round's data compare with the labelling model's
accuracy one length beyond its training (Figs 12, 22)?

memorised[r][s]: of round r's wrong kept labels (model 0's, at most ``limit``), the share that
round s's model answers with that same wrong label (``repeats_label``), answers correctly, or
answers some other way; s runs over finished rounds >= r.

data_vs_next[r]: round r's kept- and all-label accuracy next to ``next_accuracy``, the accuracy
of round r-1's model (the labeller) on the difficulties round r labelled, from eval.json.
"""

from __future__ import annotations

from pathlib import Path

from selfimprove.analysis import common, figures
from selfimprove.io import read_json


def wrong_kept(run_dir: Path, r: int, limit: int) -> list[dict]:
    return [x for x in common.labels(run_dir, r) if x["kept"] and not x["correct"] and x["model"] == 0][:limit]


def memorised(run_dir: Path, cfg, task, limit: int) -> dict[str, dict[str, dict]]:
    from selfimprove.predict import answer_prompts, load_round_model

    done = common.finished(run_dir)
    wrong = {r: rows for r in common.labelled_rounds(run_dir) if r in done and (rows := wrong_kept(run_dir, r, limit))}
    out: dict[str, dict[str, dict]] = {str(r): {} for r in wrong}
    for s in done:
        asked = {r: rows for r, rows in wrong.items() if r <= s}
        if not asked:
            continue
        loaded = load_round_model(run_dir, s, 0)
        prompts = [x["prompt"] for rows in asked.values() for x in rows]
        answers, offset = answer_prompts(*loaded, prompts), 0
        for r, rows in asked.items():
            mine, offset = answers[offset:offset + len(rows)], offset + len(rows)
            repeats = sum(a == x["label"] for a, x in zip(mine, rows))
            right = sum(task.verify(task.parse(x["prompt"]), a).ok for a, x in zip(mine, rows))
            out[str(r)][str(s)] = {"n": len(rows), "repeats_label": repeats / len(rows), "correct": right / len(rows),
                                   "other": (len(rows) - repeats - right) / len(rows)}
    return out


def data_vs_next(run_dir: Path) -> list[dict]:
    """Files only (filter_stats.json, eval.json): no model is run."""
    rows = []
    for r in common.labelled_rounds(run_dir):
        stats_path = common.filter_stats(run_dir, r)
        before = common.eval_record(run_dir, r - 1)
        if not stats_path.exists():
            continue
        stats = read_json(stats_path)
        if not stats["labelled"]:
            continue  # the schedule waited: no data to score
        wanted = [d for d in stats["difficulties"]]
        cells = {str(c["difficulty"]): c["accuracy"] for c in (before or {}).get("cells", [])}
        found = [cells[str(d)] for d in wanted if str(d) in cells]
        rows.append({"round": r, "difficulties": wanted, "kept_accuracy": stats["kept_accuracy"],
                     "label_accuracy": stats["label_accuracy"],
                     "next_accuracy": sum(found) / len(found) if found else None})
    return rows


def analyze_memorised(run_dir: Path, limit: int = 500) -> Path:
    cfg = common.run_config(run_dir)
    task = common.run_task(cfg)
    record = {"task": task.name, "limit": limit, "memorised": memorised(run_dir, cfg, task, limit),
              "data_vs_next": data_vs_next(run_dir)}
    return common.save(run_dir, "memorised", record, figures.memorised_png(record))
