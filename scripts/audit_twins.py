"""Audit one finished round's self-labels: how clean would extra shifted, cut or split twins have kept them?

    .venv/bin/python scripts/audit_twins.py runs/demo 5 --shifts 2 threads=2
    .venv/bin/python scripts/audit_twins.py runs/demo 12 --shifts 0 --cuts 1 threads=2
    .venv/bin/python scripts/audit_twins.py runs/demo 2 --shifts 0 --splits 1 threads=2

Round R's labels (``labels.jsonl``) are checked again by the model that made them (round R-1's),
now with K shifts per label: the task's shifted twins, drawn K times (addition: a + (b + e), whose
answer minus e must equal the label; copy and reverse: the two halves of a split, whose answers
must compose to it), then C cuts (addition: the sum of the top digits alone, which the label's
top digits must match up to the carry from below), then S splits (addition: the top digits' and the low digits'
sums, which must compose to the label exactly). A shift, cut or split passes when every twin it drew agrees. The table says, for the filter as the run applied it and with 1..K shifted twins added (and for the
shifted twins alone), which fraction of the labels is kept and how many of those are correct.
Correctness is the diagnostic ``correct`` field the run wrote; no filter here reads it. Below the
table: the answer positions where the wrong labels the run kept differ from the truth.

Nothing is written. Tasks with shifted (and, for --cuts and --splits, cut and split) twins only; overrides (``key=value``) are the CLI's, e.g. threads.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

from selfimprove.config import ConfigError, load_config
from selfimprove.consistency import missing_twins, twin_groups, twins_agree
from selfimprove.evaluate import answer
from selfimprove.generate import Decoding
from selfimprove.layout import RunDir
from selfimprove.run import Run, build_models, load_round
from selfimprove.runtime import inference_precision, resolve_device, use_threads


def shifted_agreement(task, labelled: list[tuple[object, str]], rng: random.Random, shifts: int, ask,
                      cuts: int = 0, splits: int = 0) -> list[list[bool]]:
    """For each (problem, label), for each of ``shifts`` shifts, then ``cuts`` cuts, then ``splits``
    splits: do all of its twins agree with the label? ``ask(problems)`` answers the twins'
    problems, in order."""
    groups = [twin_groups(task, problem, rng, shifts, cuts, splits)[1] for problem, _ in labelled]
    checks = [(label, group) for (_, label), per_label in zip(labelled, groups) for group in per_label]
    agree = iter(twins_agree(checks, lambda prompts: ask([task.parse(q) for q in prompts])))
    return [[next(agree) for _ in per_label] for per_label in groups]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("round", type=int, help="a self-improvement round (>= 1) with labels.jsonl")
    parser.add_argument("--shifts", type=int, default=2, help="shifts per label to try, each the task's shifted twins (default 2)")
    parser.add_argument("--cuts", type=int, default=0, help="cuts per label to try after the shifts, each the task's cut twins (default 0)")
    parser.add_argument("--splits", type=int, default=0,
                        help="splits per label to try after the cuts, each the task's split twin (default 0)")
    args, overrides = parser.parse_known_args(argv)
    files = RunDir(args.run_dir)
    labels = files.labels(args.round)
    try:
        if args.round < 1 or min(args.shifts, args.cuts, args.splits) < 0 or args.shifts + args.cuts + args.splits < 1:
            raise ConfigError("the round must be >= 1, and --shifts, --cuts and --splits >= 0 with at least one twin to try")
        if not labels.exists() or not files.config.exists():
            raise ConfigError(f"{labels} or the run's config.yaml is missing: is this a run directory with that round?")
        cfg = load_config(files.config, overrides)
        if (reason := missing_twins(cfg.task.build(), args.shifts, args.cuts, args.splits)) is not None:
            raise ConfigError(reason)
        files, run = RunDir.of(args.run_dir, cfg), Run(cfg, resolve_device(cfg.device))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    use_threads(cfg)
    build_models(run)
    load_round(run, files, args.round - 1)  # the labeller of round R
    rows = files.read_labels(args.round)
    rows = [r for r in rows if r["model"] == 0]  # model 0's dataset; its labeller is model 0
    task, k, cuts, splits = run.task, args.shifts, args.cuts, args.splits
    problems = [task.parse(r["prompt"]) for r in rows]
    rng = random.Random(f"audit/{cfg.seed}/{args.round}")
    decoding = Decoding(cfg.rounds.label_batch_size, inference_precision(cfg, run.device))
    agree = shifted_agreement(task, [(p, r["label"]) for p, r in zip(problems, rows)], rng, k,
                              lambda twins: answer(run.models[0], task, run.tok, twins, decoding, progress="extra twins"),
                              cuts, splits)

    kept_by_run = [r["kept"] for r in rows]
    correct = [bool(r["correct"]) for r in rows]
    print(f"round {args.round} of {args.run_dir}: {len(rows)} labels, {100 * sum(correct) / len(rows):.2f}% correct")
    print(f"{'filter':44s} {'kept':>7s} {'correct':>8s} {'wrong kept':>10s}")

    def line(name: str, keep: list[bool]) -> None:
        n = sum(keep)
        right = sum(c for c, kp in zip(correct, keep) if kp)
        print(f"{name:44s} {100 * n / len(rows):6.2f}% {100 * right / max(1, n):7.2f}% {n - right:10d}")

    line("as the run filtered", kept_by_run)
    for j in range(1, k + 1):
        line(f"as the run + {j} shift(s)", [kp and all(a[:j]) for kp, a in zip(kept_by_run, agree)])
    if cuts or splits:
        added = " + ".join(f"{n} {kind}(s)" for n, kind in ((k, "shift"), (cuts, "cut"), (splits, "split")) if n)
        line(f"as the run + {added}", [kp and all(a) for kp, a in zip(kept_by_run, agree)])
    if cuts:
        line(f"{cuts} cut(s) alone", [all(a[k:k + cuts]) for a in agree])
    if splits:
        line(f"{splits} split(s) alone", [all(a[k + cuts:]) for a in agree])
    if k:
        line(f"{k} shift(s) alone", [all(a[:k]) for a in agree])
    where = Counter()
    for r, p, kp, ok in zip(rows, problems, kept_by_run, correct):
        if kp and not ok:
            truth = task.solve(p)
            where[tuple(i for i in range(max(len(truth), len(r["label"])))
                        if r["label"][i:i + 1] != truth[i:i + 1])] += 1
    if where:
        top = ", ".join(f"{list(pos)}: {n}" for pos, n in where.most_common(4))
        print(f"wrong labels the run kept, by differing answer positions: {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
