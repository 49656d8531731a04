"""The self-improvement loop over a run directory; resumable at any step.

    round 0:  D0 = oracle-labelled problems in [low, high]  ->  train M0
    round r:  X_r = fresh problems at the schedule's difficulties
              labels = greedy answers of M_{r-1} (all k models when voting), filtered, no oracle
              M_r = M_{r-1} trained on D0 ∪ … ∪ D_r (newest round 50% of each batch)
              evaluate M_r per difficulty (oracle, evaluation only)

Every step leaves files behind (``docs/RUN_DIR.md``): a rerun of the same command skips rounds
with a ``DONE`` marker and resumes the interrupted one from its last checkpoint, drawing the same
problems and batches, so it reaches the same evaluations as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from selfimprove import distributed, hardware
from selfimprove.checkpoint import load_checkpoint, read_state, save_checkpoint
from selfimprove.config import ConfigError, RunConfig, to_plain
from selfimprove.data import BatchPlan, TokenSet, build_token_set
from selfimprove.evaluate import evaluate, grid
from selfimprove.filters import consistency_spec, filter_from_config
from selfimprove.io import atomic_write_text, read_json, read_jsonl, read_yaml
from selfimprove.labelling import agreement_probe, diagnose, fresh_problems, label_round
from selfimprove.model import ModelConfig, Transformer
from selfimprove.report import longest_at
from selfimprove.schedules import schedule_from_config
from selfimprove.tasks import get_task
from selfimprove.tasks.base import difficulty_from_json, difficulty_to_json, format_difficulty
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import make_optimizer, resolve_precision, train_steps


@dataclass
class Run:
    """Everything a round needs, rebuilt identically on every (re)start."""

    cfg: RunConfig
    out: Path
    device: torch.device
    task: object = field(init=False)
    tok: Tokenizer = field(init=False)
    models: list = field(default_factory=list)
    optimizers: list = field(default_factory=list)
    sets: list = field(default_factory=list)  # per model: [D0, D1, ...] as TokenSets
    started: float = field(default_factory=time.monotonic)
    log: object = print

    def __post_init__(self) -> None:
        self.task = get_task(self.cfg.task.name, **self.cfg.task.options)
        self.tok = Tokenizer.for_task(self.task)

    @property
    def k(self) -> int:
        return 1 if self.cfg.rounds.voting == "more_data" else self.cfg.rounds.models

    def model_seed(self, m: int) -> int:
        """Init, D0 and round-0 batches of model m; equal for all models with shared_init."""
        return self.cfg.seed if self.cfg.rounds.voting == "shared_init" else self.cfg.seed + 1000 * m

    def prefix(self, m: int) -> str:
        return "" if self.k == 1 else f"m{m}_"

    def round_dir(self, r: int) -> Path:
        return self.out / f"round_{r:03d}"


def write(path: Path, text: str) -> None:
    """Only rank 0 writes (under torchrun every rank holds the same content); others wait for it."""
    if distributed.is_main():
        atomic_write_text(path, text)
    distributed.barrier()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for but CUDA is not available; use device=cpu")
    return torch.device(name)


def prepare_run_dir(cfg: RunConfig, out: Path) -> None:
    """Write config.yaml, or refuse a run directory that holds a different config."""
    text = yaml.safe_dump(to_plain(cfg), sort_keys=False)
    path = out / "config.yaml"
    if distributed.exists(path):
        if read_yaml(path) != yaml.safe_load(text):
            raise ConfigError(f"{out} holds a run with a different config; use --out to start a new run there")
        return
    out.mkdir(parents=True, exist_ok=True)
    write(path, text)


ROUND0_KEYS = ("seed", "task", "model", "round0", "eval")  # not threads: how fast, not what


def fork_base(cfg: RunConfig, out: Path, base: Path) -> None:
    """Start ``out`` from the finished round 0 of run ``base`` (copied), so experiments that differ
    only after round 0 (filters, schedules, round sizes) share one base model instead of each
    training its own. Refused unless everything that decides round 0 is identical."""
    import shutil

    if distributed.exists(out / "round_000"):
        return
    source = base / "round_000"
    if not (source / "DONE").exists() or not (base / "config.yaml").exists():
        raise ConfigError(f"--base {base}: no finished round 0 there")
    theirs, ours = read_yaml(base / "config.yaml"), to_plain(cfg)
    for key in ROUND0_KEYS:
        if theirs.get(key) != ours[key]:
            raise ConfigError(f"--base {base}: its '{key}' section differs from this config's, so its round 0 does not apply")
    for key in ("models", "voting"):
        if theirs["rounds"].get(key) != ours["rounds"][key]:
            raise ConfigError(f"--base {base}: rounds.{key} differs, so its round 0 does not apply")
    if distributed.is_main():
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".round_000.copy"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        if (base / "metrics.jsonl").exists():
            lines = [x for x in read_jsonl(base / "metrics.jsonl") if x.get("round") == 0]
            atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
        tmp.rename(out / "round_000")  # atomic: a half-copied base never looks finished
        atomic_write_text(out / "BASE", f"{base.resolve()}\n")
    distributed.barrier()


def initial_set(run: Run, m: int) -> TokenSet:
    """D0 of model m: oracle-labelled problems in [low, high] (the only training use of solve)."""
    r0 = run.cfg.round0
    rng = random.Random(f"round0/{run.model_seed(m)}")
    problems = [run.task.sample_initial(r0.low, r0.high, rng) for _ in range(r0.examples)]
    return build_token_set(run.tok, [(run.task.prompt(p), run.task.solve(p)) for p in problems], len(grid(r0.low, r0.high)))


def kept_set(run: Run, rows: list[dict], owner: int) -> TokenSet | None:
    """The kept labels of one owner (from a round's labels.jsonl rows) as a training set."""
    rows = [x for x in rows if x["model"] == owner and x["kept"]]
    levels = len({json.dumps(x["difficulty"]) for x in rows})
    if not rows:  # nothing survived the filters: train on the older sets only
        return None
    return build_token_set(run.tok, [(x["prompt"], x["label"]) for x in rows], levels)


def build_models(run: Run) -> None:
    vocab = len(run.tok)
    for m in range(run.k):
        torch.manual_seed(run.model_seed(m))
        model = Transformer(ModelConfig(vocab_size=vocab, **to_plain(run.cfg.model))).to(run.device)
        run.models.append(model)
        run.optimizers.append(make_optimizer(model, run.cfg.round0.train))
        run.sets.append([initial_set(run, m)])


def train_round(run: Run, r: int) -> None:
    """Train every model for round r, resuming each from its last checkpoint in the round folder."""
    tcfg = run.cfg.round0.train if r == 0 else run.cfg.rounds.train
    folder = run.round_dir(r)
    distributed.barrier()
    for m, (model, opt) in enumerate(zip(run.models, run.optimizers)):
        start = 0
        if distributed.exists(folder / f"{run.prefix(m)}state.json"):
            start = load_checkpoint(folder, model, opt, run.prefix(m))["step"]
        elif r > 0:
            load_checkpoint(run.round_dir(r - 1), model, opt, run.prefix(m))
        for group in opt.param_groups:  # the optimizer continues, with this phase's settings
            group.update(betas=(tcfg.beta1, tcfg.beta2), eps=tcfg.eps)
            group["weight_decay"] = tcfg.weight_decay if group["weight_decay"] > 0 or group is opt.param_groups[0] else 0.0
        sets = [s for s in run.sets[m] if s is not None]
        plan = BatchPlan(run.model_seed(m) if r == 0 else run.cfg.seed + 1000 * m, r, tcfg.batch_size,
                         run.cfg.rounds.newest_fraction, tcfg.bucket)

        def checkpoint(step: int, m=m, model=model, opt=opt) -> None:
            if distributed.is_main():
                save_checkpoint(folder, model, opt, {"step": step, "round": r, "vocab": run.tok.to_json()}, run.prefix(m))
            distributed.barrier()

        if start < tcfg.steps:
            train_steps(model, opt, tcfg, lambda s, plan=plan, sets=sets: plan.batch(sets, s, run.tok.pad_id), start, checkpoint,
                        desc=f"train r{r} m{m}")


def eval_cells(run: Run, trained: list) -> list:
    cells = grid(run.cfg.eval.low, run.cfg.eval.high)
    if run.cfg.eval.ahead and all(isinstance(d, int) for d in trained):
        top = max(trained)
        cells = sorted(set(cells) | set(range(top + 1, top + 1 + run.cfg.eval.ahead)))
    return cells


def evaluate_round(run: Run, r: int, trained: list, precision: str) -> dict:
    cells = eval_cells(run, trained)
    e = run.cfg.eval
    per_model = [evaluate(m, run.task, run.tok, cells, e.n, run.cfg.seed, e.batch_size, precision, progress=f"eval r{r}")
                 for m in run.models]
    mean = [{**c, "accuracy": sum(pm[i]["accuracy"] for pm in per_model) / len(per_model)} for i, c in enumerate(per_model[0])]
    step = read_state(run.round_dir(r), run.prefix(0))["step"]
    return {"round": r, "step": step, "task": run.task.name, "trained": [difficulty_to_json(d) for d in trained],
            "cells": mean, "models": per_model if len(per_model) > 1 else None}


def load_previous_round(run: Run, r: int) -> None:
    """Every model and optimizer as round r-1 left them."""
    for m, (model, opt) in enumerate(zip(run.models, run.optimizers)):
        load_checkpoint(run.round_dir(r - 1), model, opt, run.prefix(m))


def plan_round(run: Run, r: int, trained: list, precision: str) -> list:
    """The round's difficulties, from the schedule; stored in plan.json so a resume reuses them."""
    path = run.round_dir(r) / "plan.json"
    if distributed.exists(path):
        return [difficulty_from_json(d) for d in read_json(path)]
    schedule = schedule_from_config(run.cfg.rounds.schedule)
    # The probe must see round r-1's model; after a resume or --base fork round r-1 was skipped,
    # so the models in memory are still freshly initialised.
    load_previous_round(run, r)
    n, bs = run.cfg.rounds.probe_problems, run.cfg.rounds.label_batch_size
    label_free = run.cfg.rounds.schedule.get("kind") == "label_free_accelerated"
    if label_free:  # the probe asks the same twins the filter will
        check = consistency_spec(filter_from_config(f) for f in run.cfg.rounds.filters)
        shifts = check.shifts if check is not None else 0
        probe = agreement_probe(run.models, run.task, run.tok, n, run.cfg.seed, r, bs, precision, shifts)
    else:  # the paper's accelerated schedule probes with evaluation accuracy (ground truth)
        def probe(d):
            return evaluate(run.models[0], run.task, run.tok, [d], n, run.cfg.seed, bs, precision)[0]["accuracy"]
    measured: list[dict] = []

    def recorded(d):
        value = probe(d)
        measured.append({"difficulty": difficulty_to_json(d), "value": value})
        return value

    difficulties = schedule.plan(r, trained, recorded)
    if measured:  # what the schedule saw, so a reader can tell a near miss from a collapse
        kind = "agreement" if label_free else "accuracy"
        write(run.round_dir(r) / "probe.json", json.dumps({"kind": kind, "threshold": getattr(schedule, "threshold", None),
                                                           "values": measured}))
    write(path, json.dumps([difficulty_to_json(d) for d in difficulties]))
    return difficulties


def self_label(run: Run, r: int, difficulties: list, precision: str) -> dict:
    """Label, filter and write labels.jsonl + filter_stats.json for round r; returns the stats."""
    folder, rc = run.round_dir(r), run.cfg.rounds
    stats_path = folder / "filter_stats.json"
    if distributed.exists(stats_path):
        return read_json(stats_path)
    load_previous_round(run, r)
    shared = rc.voting == "shared_data"
    owners = 1 if shared else run.k
    n = rc.problems * (rc.models if rc.voting == "more_data" else 1)
    problems = [fresh_problems(run.task, difficulties, n, run.cfg.seed, r, o) for o in range(owners)]
    items, filter_stats = label_round(run.models, run.task, run.tok, problems, rc.filters, shared,
                                      run.cfg.seed, r, rc.label_batch_size, precision)
    lines, labelled, kept, correct, kept_correct = [], 0, 0, 0, 0
    for owner, owner_items in enumerate(items):
        flags = diagnose(run.task, owner_items)  # ground truth, for the logs only
        for item, ok in zip(owner_items, flags):
            lines.append(json.dumps({"model": owner, "prompt": item.prompt, "difficulty": difficulty_to_json(item.difficulty),
                                     "label": item.label, "answers": list(item.answers), "kept": item.dropped_by is None,
                                     "dropped_by": item.dropped_by, "correct": ok}))
            labelled, correct = labelled + 1, correct + ok
            if item.dropped_by is None:
                kept, kept_correct = kept + 1, kept_correct + ok
    write(folder / "labels.jsonl", "\n".join(lines) + "\n")
    stats = {"round": r, "difficulties": [difficulty_to_json(d) for d in difficulties], "labelled": labelled,
             "kept": kept, "label_accuracy": correct / max(labelled, 1), "kept_accuracy": kept_correct / max(kept, 1),
             "filters": filter_stats[0] if owners == 1 else [s for owner in filter_stats for s in owner]}
    write(stats_path, json.dumps(stats, indent=1))
    return stats


def write_metrics(run: Run, record: dict, summary: dict) -> None:
    """Rewrite metrics.jsonl with this round's lines replacing any from an interrupted attempt."""
    path = run.out / "metrics.jsonl"
    old = [x for x in read_jsonl(path) if x.get("round") != record["round"]] if path.exists() else []
    per_model = record["models"] or [record["cells"]]
    new = [{"round": record["round"], "step": record["step"], "model": m, **cell}
           for m, cells in enumerate(per_model) for cell in cells]
    lines = old + new + [{"kind": "round", **summary}]
    write(path, "".join(json.dumps(x) + "\n" for x in lines))


def use_threads(cfg: RunConfig) -> None:
    """Apply ``cfg.threads``; 0 keeps torch's default (every core), split between the ranks of
    this host under torchrun."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif distributed.local_world_size() > 1:
        torch.set_num_threads(distributed.threads_per_rank(os.cpu_count() or 1))


def run_rounds(cfg: RunConfig, out: Path, log=print, base: Path | None = None) -> Path:
    """Run (or resume) every round of ``cfg`` in ``out``; returns the run directory.

    With ``base``, round 0 is taken from that finished run instead of trained again.
    """
    use_threads(cfg)
    device = distributed.init_from_env(cfg.device) or resolve_device(cfg.device)
    prepare_run_dir(cfg, out)
    if base is not None:
        fork_base(cfg, out, base)
    run = Run(cfg, out, device, log=log if distributed.is_main() else lambda line: None)
    precision = resolve_precision(cfg.rounds.train.precision, run.device)
    used = tuple(resolve_precision(t.precision, run.device) for t in (cfg.round0.train, cfg.rounds.train))
    if warning := hardware.precision_warning(used, run.device):
        run.log(warning)
    build_models(run)
    trained, wall_before = grid(cfg.round0.low, cfg.round0.high), 0.0
    for r in range(cfg.rounds.count + 1):
        folder = run.round_dir(r)
        folder.mkdir(parents=True, exist_ok=True)
        done, stats = distributed.exists(folder / "DONE"), None
        if r > 0:  # both steps reuse their files when they exist (a finished or resumed round)
            new = plan_round(run, r, trained, precision)
            stats = self_label(run, r, new, precision)
            trained = trained + [d for d in new if d not in trained]
            rows = read_jsonl(folder / "labels.jsonl")
            for m in range(run.k):
                run.sets[m].append(kept_set(run, rows, 0 if cfg.rounds.voting == "shared_data" else m))
        if done:
            wall_before = read_json(folder / "eval.json").get("wall_time_s", 0.0)
            run.started = time.monotonic()
            continue
        train_round(run, r)
        record = evaluate_round(run, r, trained, precision)
        record["wall_time_s"] = wall_before + time.monotonic() - run.started
        write(folder / "eval.json", json.dumps(record, indent=1))
        labelled = stats["labelled"] if stats else 0  # 0: round 0, or the schedule waited
        summary = {"round": r, "step": record["step"], "longest_at_99": longest_at(record["cells"]),
                   "label_accuracy": stats["label_accuracy"] if labelled else None,
                   "kept_fraction": stats["kept"] / labelled if labelled else None,
                   "wall_time_s": record["wall_time_s"]}
        write_metrics(run, record, summary)
        write(folder / "DONE", "")
        run.log(round_line(r, trained, stats, summary))
    return out


def round_line(r: int, trained: list, stats: dict | None, summary: dict) -> str:
    lo, hi = format_difficulty(trained[0]), format_difficulty(trained[-1])
    parts = [f"round {r:3d}", f"trained {lo}..{hi}"]
    if stats and not stats["labelled"]:
        parts.append("no new data: the schedule waited (consolidation round)")
    elif stats:
        parts.append(f"labelled {stats['labelled']} kept {stats['kept'] / stats['labelled']:.1%}"
                     f" label acc {stats['label_accuracy']:.1%} kept acc {stats['kept_accuracy']:.1%}")
    longest = summary["longest_at_99"]
    parts.append(f"longest >=99%: {'none' if longest is None else longest}")
    parts.append(f"{summary['wall_time_s'] / 60:.1f} min")
    return " | ".join(parts)
