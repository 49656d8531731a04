"""Learning curve of a config's round 0: train model 0 exactly as ``selfimprove run`` would and
evaluate the config's eval grid every ``--every`` steps, one JSON line per evaluation.

    .venv/bin/python scripts/round0_curve.py configs/cpu/maze_hops_nofilter.yaml --every 500 threads=1

Nothing is written to disk: this is for deciding a preset's round 0 (does the base learn the task
at this size, and when does it "click"?), which costs a whole run with ``selfimprove run``.
Overrides (``key=value``) are the CLI's. Accuracy is exact match on ``eval.n`` problems per cell,
from the same evaluation stream as a run's, so the last line equals the run's round-0 evaluation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from selfimprove.config import ConfigError, load_config
from selfimprove.data import BatchPlan
from selfimprove.evaluate import evaluate, grid
from selfimprove.generate import Decoding
from selfimprove.process import keep_freed_memory
from selfimprove.run import Run, build_models, round0_batches
from selfimprove.runtime import inference_precision, resolve_device, use_threads
from selfimprove.tasks.base import difficulty_from_json, format_difficulty
from selfimprove.train import train_steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--every", type=int, default=500, help="evaluate every N steps (default 500)")
    args, overrides = parser.parse_known_args(argv)
    try:
        cfg = load_config(args.config, overrides)
        run = Run(cfg, resolve_device(cfg.device))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    use_threads(cfg)
    keep_freed_memory()  # as `selfimprove run` does: fewer page faults, the same numbers
    build_models(run)
    model, optimizer = run.models[0], run.optimizers[0]
    tcfg = dataclasses.replace(cfg.round0.train, checkpoint_every=args.every)
    plan = BatchPlan(run.order_seed(0), 0, tcfg.batch_size, cfg.rounds.newest_fraction, tcfg.bucket)
    # A run evaluates every round, round 0 included, at its inference precision.
    precision = inference_precision(cfg, run.device)
    cells, started = grid(cfg.eval.low, cfg.eval.high), time.monotonic()

    def report(step: int) -> None:
        results = evaluate(model, run.task, run.tok, cells, cfg.eval.n, cfg.seed, Decoding(cfg.eval.batch_size, precision))
        model.train()
        line = {"step": step, "minutes": round((time.monotonic() - started) / 60, 2)}
        line.update({format_difficulty(difficulty_from_json(c["difficulty"])): c["accuracy"] for c in results})
        if cfg.round0.curriculum is not None:  # the levels open now, and (pace mastery) when each opened
            line["open_levels"] = cfg.round0.curriculum.open_levels(step, len(run.d0_levels[0]), batches.opened)
            line["opened_at"] = batches.opened
        print(json.dumps(line), flush=True)

    batches = round0_batches(run, 0, plan)
    train_steps(model, optimizer, tcfg, batches, 0, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
