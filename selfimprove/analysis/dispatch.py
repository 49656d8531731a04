"""``selfimprove analyze WHAT RUN_DIR``: the one place the CLI's options meet the instruments."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from selfimprove.config import ConfigError
from selfimprove.tasks.base import parse_difficulty


def analyze(what: str, run_dir: Path, args: Namespace) -> Path:
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a folder; pass a run directory written by `selfimprove run`")
    if what == "errors":
        from selfimprove.analysis.errors import analyze_errors

        return analyze_errors(run_dir, args.round, args.eval)
    if what == "carries":
        from selfimprove.analysis.carry_eval import analyze_carries

        return analyze_carries(run_dir, args.digits, 500 if args.n is None else args.n, args.round)
    if what == "rescore":
        from selfimprove.analysis.rescore import analyze_rescore

        return analyze_rescore(run_dir, args.round, 1000 if args.n is None else args.n)
    if what == "memorised":
        from selfimprove.analysis.memorised import analyze_memorised

        return analyze_memorised(run_dir, 500 if args.n is None else args.n)
    from selfimprove.analysis.sweep import summarise_sweep

    return summarise_sweep(run_dir, at=parse_difficulty(args.at) if args.at else None, x=args.x, group=args.group,
                           round_=args.round, only=args.only)
