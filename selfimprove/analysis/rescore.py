"""``selfimprove analyze rescore``: a finished round's model(s) scored again on more problems than the
run's own evaluation, with a 95% interval per cell.

Why: the run scores each cell on ``eval.n`` problems (the demo: 200). Near the 99% criterion that is
too few to place a model - a length truly at 99.5% reads under 99% about one time in twelve - so a
run's "longest at >= 99%" can read 1 where every length is in fact at 99.2-99.9% (EXPERIMENTS X4).
The problems here come from their own stream (``rescore``, seeded by the run's seed), never the
evaluation's or the training data's, so they are fresh and the same on every call; ground truth only
scores them (an evaluation, outside the oracle firewall).
"""

from __future__ import annotations

import math
from pathlib import Path

from selfimprove.analysis import common
from selfimprove.config import ConfigError
from selfimprove.rundir import to_key

Z95 = 1.959964  # two-sided 95% normal quantile


def wilson(right: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``right / n`` (sound near 0 and 1, unlike p ± z·se)."""
    if n <= 0:
        raise ValueError("wilson: n must be positive")
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At 0 or n the interval's end is exactly 0 or 1 (the formula gives it up to a rounding error).
    return (0.0 if right == 0 else max(0.0, centre - half)), (1.0 if right == n else min(1.0, centre + half))


def rescore_cells(scored: list[list[dict]], run_cells: dict, n: int) -> list[dict]:
    """Each cell's accuracy (mean over the models) with its interval (over all k·n answers) beside
    what the run's own evaluation read there."""
    out = []
    for i, cell in enumerate(scored[0]):
        right = sum(round(models[i]["accuracy"] * n) for models in scored)
        low, high = wilson(right, n * len(scored))
        out.append({"difficulty": cell["difficulty"], "n": n, "accuracy": right / (n * len(scored)),
                    "low": low, "high": high, "run_accuracy": run_cells.get(to_key(cell["difficulty"]))})
    return out


def analyze_rescore(run_dir: Path, round_: int | None = None, n: int = 1000, stream: str = "rescore") -> Path:
    """rescore.json (and .png for one-axis tasks): round ``round_`` (default latest) on ``n`` fresh
    problems per cell of the round's own evaluation grid; ``longest_at_99`` read off those, and
    ``longest_surely_at_99`` off the intervals' lower ends. ``stream="eval"`` with the run's n draws
    the run's own evaluation problems (its numbers again: how the tests check this instrument)."""
    from selfimprove.analysis.figures import rescore_png
    from selfimprove.evaluate import evaluate_each
    from selfimprove.generate import Decoding
    from selfimprove.layout import RunDir
    from selfimprove.predict import load_round_model
    from selfimprove.report import longest_at

    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    cfg = common.run_config(run_dir)
    r = common.pick_round(run_dir, round_, common.finished(run_dir), "finished checkpoint")
    record = common.eval_record(run_dir, r) or {}
    run_cells = {to_key(c["difficulty"]): c["accuracy"] for c in record.get("cells", [])}
    if not run_cells:
        raise ConfigError(f"round {r} of {run_dir} has no eval.json to take the cells from; rerun the run to finish it")
    loaded = [load_round_model(run_dir, r, m) for m in range(RunDir.of(run_dir, cfg).k)]
    task, tok, _, precision = loaded[0]
    cells = list(run_cells)  # ints, or tuples for grid tasks: the task's own difficulties
    scored = evaluate_each([net for _, _, net, _ in loaded], task, tok, cells, n, cfg.seed,
                           Decoding(cfg.eval.batch_size, precision), progress=f"rescore r{r}", stream=stream)
    rows = rescore_cells(scored, run_cells, n)
    out = {"task": task.name, "round": r, "n": n, "stream": stream, "models": len(loaded), "cells": rows,
           "longest_at_99": longest_at(rows),
           "longest_surely_at_99": longest_at([{**c, "accuracy": c["low"]} for c in rows]),
           "run_n": record["cells"][0].get("n"),  # cells exist: checked above
           "run_longest_at_99": longest_at(record["cells"])}
    one_axis = all(isinstance(to_key(c["difficulty"]), int) for c in rows)
    return common.save(run_dir, "rescore", out, rescore_png(out) if one_axis else None)
