"""The self-improvement loop over a run directory; resumable at any step.

    round 0:  D0 = oracle-labelled problems in [low, high]  ->  train M0
    round r:  X_r = fresh problems at the schedule's difficulties
              labels = greedy answers of M_{r-1} (all k models when voting), filtered, no oracle
              M_r = M_{r-1} trained on D0 ∪ … ∪ D_r (newest round 50% of each batch)
              evaluate M_r per difficulty (oracle, evaluation only)

Each round reads as plan -> label (and filter) -> train -> evaluate, every step handing its
result to the next. Every step leaves files behind (``docs/RUN_DIR.md``, ``layout.RunDir``): a
rerun of the same command skips rounds with a ``DONE`` marker and resumes the interrupted one from
its last checkpoint, drawing the same problems and batches, so it reaches the same evaluations as
an uninterrupted run. A step whose file is on disk reads it instead of redoing it; the models are
loaded from round r-1's checkpoints once, for whichever of probe, labelling and training needs them.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch

from selfimprove import distributed, hardware
from selfimprove.checkpoint import has_checkpoint, save_checkpoint
from selfimprove.config import RunConfig, to_plain
from selfimprove.evaluate import accuracy_probe, evaluate_each, grid
from selfimprove.filters import twin_counts
from selfimprove.generate import Decoding
from selfimprove.io import read_json, run_dir_lock
from selfimprove.label_records import filter_scores, kept_set, label_rows, label_stats, with_noise
from selfimprove.labelling import agreement_probe, fresh_problems, label_round
from selfimprove.layout import RunDir
from selfimprove.loggers import open_loggers, round_scalars
from selfimprove.loss_log import LossLog
from selfimprove.networks import check_sources
from selfimprove.relabel import Holdings
from selfimprove.resume import fork_base, prepare_run_dir
from selfimprove.round0 import train_round0
from selfimprove.run import (
    Run,
    build_models,
    initial_problems,  # noqa: F401 (analysis/carry_eval.py imports D0's problems from here)
    load_model,
    load_round,
    round0_batches,
    round_plan,
    round_train,
    training_sets,  # tests import it from here too
)
from selfimprove.runtime import (
    inference_precision,
    pin_precisions,
    precisions,
    resolve_device,
    stacks_models,
    use_threads,
    write_runtime,
)
from selfimprove.schedules import ACCURACY, AGREEMENT
from selfimprove.stacked_rounds import train_stacked_round, trains_stacked
from selfimprove.summary import round_line, round_summary
from selfimprove.tasks.base import difficulty_from_json, difficulty_to_json
from selfimprove.train import continue_optimizer, train_steps


def run_rounds(cfg: RunConfig, out: Path, log=print, base: Path | None = None, base_round: int = 0) -> Path:
    """Run (or resume) every round of ``cfg`` in ``out``; returns the run directory.

    With ``base``, round 0 (rounds 0..``base_round``) is taken from that finished run instead of
    trained again.
    """
    use_threads(cfg)
    check_sources(cfg)  # before config.yaml is written, so a corrected path is not "a different config"
    device = distributed.init_from_env(cfg.device) or resolve_device(cfg.device)
    files = distributed.shared(RunDir.of(out, cfg))
    with contextlib.ExitStack() as held:
        if distributed.is_main():  # one job per run directory; its other ranks follow rank 0
            held.enter_context(run_dir_lock(files.lock))
        distributed.barrier()
        prepare_run_dir(cfg, files)
        loggers = open_loggers(cfg.log, files.path, cfg.name, to_plain(cfg)) if distributed.is_main() else []
        for logger in loggers:
            held.callback(logger.close)
        if base is not None:
            fork_base(cfg, files, base, base_round)
        every_round(cfg, files, device, log if distributed.is_main() else lambda line: None, loggers)
    return out


def every_round(cfg: RunConfig, files: RunDir, device: torch.device, log, loggers: list) -> None:
    recorded = read_json(files.runtime) if files.exists(files.runtime) else None
    cfg = pin_precisions(cfg, device, recorded)
    run, started = Run(cfg, device), time.monotonic()
    write_runtime(files, cfg, device)
    if warning := hardware.precision_warning(tuple(precisions(cfg, device).values()), device):
        log(warning)
    precision = inference_precision(cfg, device)  # labelling, probes and evaluation
    stacked = stacks_models(cfg, run.device)
    labelling = Decoding(cfg.rounds.label_batch_size, precision, stacked)
    scoring = Decoding(cfg.eval.batch_size, precision, stacked)
    build_models(run)
    trained, wall_before = grid(cfg.round0.low, cfg.round0.high), base_round0_seconds(files)
    self_labelled, holdings, relabelled = [], [Holdings() for _ in range(run.k)], []
    for r in range(cfg.rounds.count + 1):
        files.round(r).mkdir(parents=True, exist_ok=True)
        done, stats, phases = files.exists(files.done(r)), None, Phases()
        if r > 0:  # both steps reuse their files when they exist (a finished or resumed round)
            with phases("plan"):
                new = plan_round(run, files, r, trained, labelling)
            targets = relabel_targets(cfg.rounds.relabel, self_labelled, new, holdings)
            with phases("label"):
                stats, rows = self_label(run, files, r, new, labelling, targets)
            added = [d for d in new if d not in trained]
            self_labelled, trained = self_labelled + added, trained + added
            relabelled = take_labels(run, r, rows, targets, holdings)
        if done:
            wall_before = read_json(files.eval(r)).get("wall_time_s", 0.0)
            started = time.monotonic()
            continue
        with phases("train"):
            step = train_round(run, files, r, log)
        with phases("evaluate"):
            record = evaluate_round(run, r, trained, step, scoring)
        if relabelled:  # which relabels replaced the labels a difficulty trained on
            record["relabelled"] = relabelled
        record["wall_time_s"] = wall_before + time.monotonic() - started
        record["phase_s"] = phases.seconds  # this process's share; a resumed round counts only what it redid
        files.write_json(files.eval(r), record, indent=1)
        summary = round_summary(record, stats)
        files.write_metrics(record, summary)
        for logger in loggers:
            logger.log_round(round_scalars(summary, record["cells"]), r)
        files.mark_done(r)
        log(round_line(r, trained, stats, summary, relabelled))


def base_round0_seconds(files: RunDir) -> float:
    """Seconds round 0 took in the --base run when this run scores that round 0 anew (a different
    eval grid, resume.fork_base), so the run's wall time counts it; 0 otherwise."""
    if files.exists(files.base_eval) and not files.exists(files.done(0)):
        return read_json(files.base_eval).get("wall_time_s", 0.0)
    return 0.0


class Phases:
    """Seconds spent in each named step of a round (plan, label, train, evaluate): where the time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        begun = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - begun, 3)


def plan_round(run: Run, files: RunDir, r: int, trained: list, decoding: Decoding) -> list:
    """The round's difficulties, from the schedule; stored in plan.json so a resume reuses them."""
    if files.exists(files.plan(r)):
        return [difficulty_from_json(d) for d in read_json(files.plan(r))]
    schedule = run.cfg.rounds.schedule
    probe = schedule_probe(run, files, r, decoding)
    measured: list[dict] = []

    def recorded(d):
        value = probe(d)
        measured.append({"difficulty": difficulty_to_json(d), "value": value})
        return value

    difficulties = schedule.plan(r, trained, recorded if probe is not None else None)
    if measured:  # what the schedule saw, so a reader can tell a near miss from a collapse
        files.write_json(files.probe(r), {"kind": schedule.probe_by, "threshold": getattr(schedule, "threshold", None),
                                          "first_threshold": getattr(schedule, "first_threshold", None),
                                          "values": measured})
    files.write_json(files.plan(r), [difficulty_to_json(d) for d in difficulties])
    return difficulties


def schedule_probe(run: Run, files: RunDir, r: int, decoding: Decoding):
    """``probe(d)`` of the schedule's declared kind, on round r-1's models; None when it needs none."""
    kind = getattr(run.cfg.rounds.schedule, "probe_by", None)
    if kind is None:
        return None
    # After a resume or a --base fork round r-1 was skipped: the models must be loaded, not fresh.
    load_round(run, files, r - 1)
    n, seed = run.cfg.rounds.probe_problems, run.cfg.seed
    if kind == AGREEMENT:  # the probe asks the same twins the filter will
        counts = twin_counts(run.cfg.rounds.filters) or (0, 0, 0, True)
        return agreement_probe(run.models, run.task, run.tok, n, seed, r, decoding, *counts)
    if kind == ACCURACY:  # the paper's accelerated schedules probe with evaluation accuracy (ground truth)
        return accuracy_probe(run.models, run.task, run.tok, n, seed, r, decoding)
    raise ValueError(f"unknown probe kind {kind!r}")


def self_label(run: Run, files: RunDir, r: int, difficulties: list, decoding: Decoding,
               targets: list = ()) -> tuple[dict, list[dict]]:
    """Label and filter round r's fresh problems (and, apart, ``rounds.relabel``'s at ``targets``: rows
    marked ``"relabel": true``); writes labels.jsonl and filter_stats.json and returns ``(stats, rows)``
    (read back from those files when a resume finds them). The stats count the new difficulties' rows;
    ``stats["relabel"]`` the relabelled ones."""
    if files.exists(files.filter_stats(r)):
        return read_json(files.filter_stats(r)), files.read_labels(r)
    rc = run.cfg.rounds
    load_round(run, files, r - 1)  # the labellers are round r-1's models
    shared = rc.variant.shared_labels
    n = rc.variant.problems_labelled(rc.problems, rc.models)
    if rc.problems_per == "difficulty":
        n *= len(difficulties)
    owners = range(1 if shared else run.k)
    problems = [fresh_problems(run.task, difficulties, n, run.cfg.seed, r, o) for o in owners]
    items, filter_stats = label_round(run.models, run.task, run.tok, problems, rc.filters, shared, run.cfg.seed, r,
                                      decoding)
    rows = with_noise(run.cfg, run.task, r, label_rows(run.task, items))
    stats = label_stats(r, difficulties, rows, filter_stats)
    if targets:  # labelled apart, so the new difficulties' labels and stats are what they are without relabelling
        n = rc.relabel.problems * len(targets)
        again = [fresh_problems(run.task, targets, n, run.cfg.seed, r, o, stream="relabel") for o in owners]
        items, _ = label_round(run.models, run.task, run.tok, again, rc.filters, shared, run.cfg.seed, r, decoding)
        fresh = [{**row, "relabel": True} for row in label_rows(run.task, items)]
        stats["relabel"] = [relabel_stats(d, [x for x in fresh if difficulty_from_json(x["difficulty"]) == d])
                            for d in targets]
        rows = rows + fresh
    files.write_labels(r, rows)
    files.write_json(files.filter_stats(r), stats, indent=1)
    return stats, rows


def relabel_targets(relabel, self_labelled: list, new: list, holdings: list[Holdings]) -> list:
    """The difficulties round r labels again (none without ``rounds.relabel``): a difficulty counts as held at
    the lowest share any model's labels of it were kept at, so one model's weak set is enough."""
    if not relabel:
        return []
    return relabel.targets(self_labelled, new, lambda d: min(h.held_share(d) for h in holdings))


def relabel_stats(difficulty, rows: list[dict]) -> dict:
    """One relabelled difficulty's counts and ``filter_scores`` (by ground truth, for the logs only)."""
    return {"difficulty": difficulty_to_json(difficulty), "labelled": len(rows), "kept": sum(x["kept"] for x in rows),
            **filter_scores(rows)}


def take_labels(run: Run, r: int, rows: list[dict], targets: list, holdings: list[Holdings]) -> list[dict]:
    """Round r's kept labels into every model's training sets: the new difficulties' as set r, and each
    relabelled difficulty's in place of the labels it trained on when its filters kept a larger share
    (relabel.py). Returns the relabel decisions (model 0's)."""
    decisions, new, fresh = [], [x for x in rows if not x.get("relabel")], {}
    for x in rows:  # each owner's relabelled rows by difficulty
        if x.get("relabel"):
            fresh.setdefault((x["model"], difficulty_from_json(x["difficulty"])), []).append(x)
    for m in range(run.k):
        owner = 0 if run.cfg.rounds.variant.shared_labels else m
        run.sets[m].append(kept_set(run.tok, new, owner))
        if not run.cfg.rounds.relabel:
            continue
        holdings[m].add(r, [x for x in new if x["model"] == owner])
        for d in targets:
            decision = holdings[m].offer(d, fresh.get((owner, d), []))
            if decision["replaced"]:
                run.sets[m][decision["set"]] = kept_set(run.tok, holdings[m].rows[decision["set"]], owner)
            if m == 0:
                decisions.append({"difficulty": difficulty_to_json(d), **decision})
    return decisions


def train_round(run: Run, files: RunDir, r: int, log=lambda line: None) -> int:
    """Train every model for round r, resuming each from its last checkpoint in the round folder;
    returns model 0's final step."""
    tcfg = round_train(run.cfg, r)
    folder, steps = files.round(r), []
    distributed.barrier()
    if trains_stacked(run, r):
        end = train_stacked_round(run, files, r, log)
        if end is not None:
            run.loaded = None
            return end
    for m, (model, opt) in enumerate(zip(run.models, run.optimizers)):
        start, resumed, saved = 0, distributed.main_decides(has_checkpoint(folder, files.prefix(m))), {}
        if resumed:
            saved = load_model(run, files, r, m)
            start = saved["step"]
        elif r > 0 and run.loaded != r - 1:  # the round's first step to need round r-1's models
            load_model(run, files, r - 1, m)
        continue_optimizer(opt, tcfg)
        sets = training_sets(run.sets[m], r, run.cfg.rounds.keep_round0)
        plan = round_plan(run, m, r, tcfg)
        batches = round0_batches(run, m, plan, saved.get("curriculum")) if r == 0 else (
            lambda s, plan=plan, sets=sets: plan.batch(sets, s, run.tok.pad_id))

        def checkpoint(step: int, m=m, model=model, opt=opt, batches=batches) -> None:
            meta = {"step": step, "round": r, "vocab": run.tok.to_json()}
            if hasattr(batches, "state"):  # a round-0 curriculum: which levels opened when
                meta["curriculum"] = batches.state()
            if distributed.is_main():
                save_checkpoint(folder, model, opt, meta, files.prefix(m))
            distributed.barrier()

        if r == 0:
            end = train_round0(run, files, m, batches, start, checkpoint, log)
        else:
            end = tcfg.steps
            if start < end:
                losses = LossLog(files.losses(r), m, distributed.is_main())
                losses.restart(start)
                train_steps(model, opt, tcfg, batches, start, checkpoint, desc=f"train r{r} m{m}", where=f"round {r}, model {m}",
                            on_losses=losses.append)
        if start >= end and not resumed:
            checkpoint(start)  # steps: 0 trains nothing; the round still needs its model on disk
        steps.append(max(start, end))  # the step of the model's last checkpoint
    run.loaded = None  # trained: no longer round r-1's models
    return steps[0]


def eval_cells(cfg: RunConfig, trained: list) -> list:
    """The evaluation grid; for 1-D tasks also the ``ahead`` window above the trained maximum and,
    with ``eval.trained``, every trained difficulty (so "longest at >= 99%" sees them all)."""
    cells = grid(cfg.eval.low, cfg.eval.high)
    if all(isinstance(d, int) for d in trained):
        top = max(trained)
        extra = set(range(top + 1, top + 1 + cfg.eval.ahead)) | (set(trained) if cfg.eval.trained else set())
        cells = sorted(set(cells) | extra) if extra else cells
    return cells


def evaluate_round(run: Run, r: int, trained: list, step: int, decoding: Decoding) -> dict:
    """eval.json's record (without the wall time): oracle accuracy per cell, the mean over models
    and, with k > 1, every model's cells."""
    cells = eval_cells(run.cfg, trained)
    per_model = evaluate_each(run.models, run.task, run.tok, cells, run.cfg.eval.n, run.cfg.seed, decoding,
                              progress=f"eval r{r}")
    mean = [{**c, "accuracy": sum(pm[i]["accuracy"] for pm in per_model) / len(per_model)} for i, c in enumerate(per_model[0])]
    return {"round": r, "step": step, "task": run.task.name, "trained": [difficulty_to_json(d) for d in trained],
            "cells": mean, "models": per_model if len(per_model) > 1 else None}
