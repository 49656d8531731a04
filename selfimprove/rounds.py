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

import contextlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from selfimprove import distributed, hardware
from selfimprove.checkpoint import has_checkpoint, load_checkpoint, read_state, save_checkpoint
from selfimprove.config import ConfigError, RunConfig, config_from_dict, to_plain
from selfimprove.data import BatchPlan, TokenSet, build_token_set
from selfimprove.evaluate import accuracy_probe, evaluate, grid
from selfimprove.filters import twin_shifts
from selfimprove.init_from import warm_start
from selfimprove.io import atomic_write_text, read_json, read_jsonl, read_yaml, run_dir_lock
from selfimprove.labelling import agreement_probe, diagnose, fresh_problems, label_round
from selfimprove.loggers import open_loggers, round_scalars
from selfimprove.networks import build_network, check_sources
from selfimprove.noise import inject, noise_from_config
from selfimprove.report import longest_at
from selfimprove.schedules import ACCURACY, AGREEMENT
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

    def init_seed(self, m: int) -> int:
        """Model m's initial weights; one for all models with voting shared_init."""
        return self.cfg.seed if self.cfg.rounds.voting == "shared_init" else self.order_seed(m)

    def d0_seed(self, m: int) -> int:
        """Model m's D0; one for all models with voting shared_init or shared_d0."""
        return self.cfg.seed if self.cfg.rounds.voting in ("shared_init", "shared_d0") else self.order_seed(m)

    def order_seed(self, m: int) -> int:
        """Model m's batch order in every round: models always differ here (B.2.4, Fig. 15)."""
        return self.cfg.seed + 1000 * m

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


def stored_config(path: Path) -> dict:
    """A run's config.yaml as plain YAML data, with keys added since it was written at their
    defaults (which keep the old behaviour); as written when it no longer loads."""
    try:
        return yaml.safe_load(yaml.safe_dump(to_plain(config_from_dict(read_yaml(path))), sort_keys=False))
    except ConfigError:
        return read_yaml(path)


# Keys a resume may change: how fast (threads, device), how far (rounds.count extends a finished
# run or stops one earlier), and where the numbers are mirrored (log). Anything else would mix two experiments in one directory.
RESUMABLE_KEYS = (("threads",), ("device",), ("rounds", "count"), ("log",))


def _without_resumable(config: dict) -> dict:
    config = json.loads(json.dumps(config))
    for *parents, key in RESUMABLE_KEYS:
        node = config
        for p in parents:
            node = node.get(p, {})
        node.pop(key, None)
    return config


def _first_difference(a, b, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
    return f"{where} ({a!r} there, {b!r} now)"


def prepare_run_dir(cfg: RunConfig, out: Path) -> None:
    """Write config.yaml, or refuse a run directory that holds a different experiment.

    Only ``RESUMABLE_KEYS`` may differ from the stored config; the stored file is then rewritten
    with the new values, so the report sees, e.g., the extended round count."""
    text = yaml.safe_dump(to_plain(cfg), sort_keys=False)
    path = out / "config.yaml"
    if distributed.exists(path):
        # With defaults filled in, so a run made before a key existed still resumes.
        theirs, ours = stored_config(path), yaml.safe_load(text)
        if _without_resumable(theirs) != _without_resumable(ours):
            diff = _first_difference(_without_resumable(theirs), _without_resumable(ours))
            raise ConfigError(f"{out} holds a run with a different config (first difference: {diff}); "
                              f"use --out to start a new run there")
        if theirs != ours:
            write(path, text)
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
    theirs, ours = stored_config(base / "config.yaml"), yaml.safe_load(yaml.safe_dump(to_plain(cfg), sort_keys=False))
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
    problems = initial_problems(run.task, r0, run.d0_seed(m))
    levels = r0.levels or len(grid(r0.low, r0.high))  # its weight under rounds.mixture = levels
    return build_token_set(run.tok, [(run.task.prompt(p), run.task.solve(p)) for p in problems], levels)


def initial_problems(task, r0, model_seed: int) -> list:
    """The problems of D0 (also read back by ``selfimprove analyze carries``)."""
    rng = random.Random(f"round0/{model_seed}")
    return [task.sample_initial(r0.low, r0.high, rng) for _ in range(r0.examples)]


def kept_set(run: Run, rows: list[dict], owner: int) -> TokenSet | None:
    """The kept labels of one owner (from a round's labels.jsonl rows) as a training set."""
    rows = [x for x in rows if x["model"] == owner and x["kept"]]
    levels = len({json.dumps(x["difficulty"]) for x in rows})
    if not rows:  # nothing survived the filters: train on the older sets only
        return None
    return build_token_set(run.tok, [(x["prompt"], x["label"]) for x in rows], levels)


def build_models(run: Run) -> None:
    for m in range(run.k):
        torch.manual_seed(run.init_seed(m))
        model = build_network(run.cfg.model, run.tok)
        if run.cfg.model.init_from:
            warm_start(model, run.tok, Path(run.cfg.model.init_from), m)
        model = model.to(run.device)
        run.models.append(model)
        run.optimizers.append(make_optimizer(model, run.cfg.round0.train))
        run.sets.append([initial_set(run, m)])


def train_round(run: Run, r: int) -> None:
    """Train every model for round r, resuming each from its last checkpoint in the round folder."""
    tcfg = run.cfg.round0.train if r == 0 else run.cfg.rounds.train
    folder = run.round_dir(r)
    distributed.barrier()
    for m, (model, opt) in enumerate(zip(run.models, run.optimizers)):
        start, resumed = 0, distributed.main_decides(has_checkpoint(folder, run.prefix(m)))
        if resumed:
            start = load_checkpoint(folder, model, opt, run.prefix(m))["step"]
        elif r > 0:
            load_checkpoint(run.round_dir(r - 1), model, opt, run.prefix(m))
        for group in opt.param_groups:  # the optimizer continues, with this phase's settings
            group.update(betas=(tcfg.beta1, tcfg.beta2), eps=tcfg.eps)
            group["weight_decay"] = tcfg.weight_decay if group["weight_decay"] > 0 or group is opt.param_groups[0] else 0.0
        sets = training_sets(run.sets[m], r, run.cfg.rounds.keep_round0)
        plan = BatchPlan(run.order_seed(m), r, tcfg.batch_size, run.cfg.rounds.newest_fraction, tcfg.bucket,
                         run.cfg.rounds.mixture)

        def checkpoint(step: int, m=m, model=model, opt=opt) -> None:
            if distributed.is_main():
                save_checkpoint(folder, model, opt, {"step": step, "round": r, "vocab": run.tok.to_json()}, run.prefix(m))
            distributed.barrier()

        if start < tcfg.steps:
            train_steps(model, opt, tcfg, lambda s, plan=plan, sets=sets: plan.batch(sets, s, run.tok.pad_id), start, checkpoint,
                        desc=f"train r{r} m{m}", where=f"round {r}, model {m}")
        elif not resumed:
            checkpoint(start)  # steps: 0 trains nothing; the round still needs its model on disk


def training_sets(sets: list, r: int, keep_round0: bool) -> list:
    """The sets round r trains on: D0 .. Dr, without D0 after round 0 unless ``keep_round0``, and
    without rounds whose labels were all filtered out (None). D0 stays when nothing else is left."""
    rounds = [s for s in sets[1 : r + 1] if s is not None]
    return sets[:1] + rounds if keep_round0 or not rounds else rounds


def eval_cells(run: Run, trained: list) -> list:
    """The evaluation grid; for 1-D tasks also the ``ahead`` window above the trained maximum and,
    with ``eval.trained``, every trained difficulty (so "longest at >= 99%" sees them all)."""
    cells = grid(run.cfg.eval.low, run.cfg.eval.high)
    if all(isinstance(d, int) for d in trained):
        top = max(trained)
        extra = set(range(top + 1, top + 1 + run.cfg.eval.ahead)) | (set(trained) if run.cfg.eval.trained else set())
        cells = sorted(set(cells) | extra) if extra else cells
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
    schedule = run.cfg.rounds.schedule
    # The probe must see round r-1's model; after a resume or --base fork round r-1 was skipped,
    # so the models in memory are still freshly initialised.
    load_previous_round(run, r)
    n, bs = run.cfg.rounds.probe_problems, run.cfg.rounds.label_batch_size
    kind = getattr(schedule, "probe_by", None)
    if kind == AGREEMENT:  # the probe asks the same twins the filter will
        shifts = twin_shifts(run.cfg.rounds.filters) or 0
        probe = agreement_probe(run.models, run.task, run.tok, n, run.cfg.seed, r, bs, precision, shifts)
    elif kind == ACCURACY:  # the paper's accelerated schedule probes with evaluation accuracy (ground truth)
        probe = accuracy_probe(run.models, run.task, run.tok, n, run.cfg.seed, r, bs, precision)
    else:
        probe = None
    measured: list[dict] = []

    def recorded(d):
        value = probe(d)
        measured.append({"difficulty": difficulty_to_json(d), "value": value})
        return value

    difficulties = schedule.plan(r, trained, recorded)
    if measured:  # what the schedule saw, so a reader can tell a near miss from a collapse
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
    if rc.problems_per == "difficulty":
        n *= len(difficulties)
    problems = [fresh_problems(run.task, difficulties, n, run.cfg.seed, r, o) for o in range(owners)]
    items, filter_stats = label_round(run.models, run.task, run.tok, problems, rc.filters, shared,
                                      run.cfg.seed, r, rc.label_batch_size, precision)
    rows, labelled, kept, correct, kept_correct = [], 0, 0, 0, 0
    for owner, owner_items in enumerate(items):
        flags = diagnose(run.task, owner_items)  # ground truth, for the logs only
        for item, ok in zip(owner_items, flags):
            rows.append({"model": owner, "prompt": item.prompt, "difficulty": difficulty_to_json(item.difficulty),
                         "label": item.label, "answers": list(item.answers), "kept": item.dropped_by is None,
                         "dropped_by": item.dropped_by, "correct": ok})
    rows = with_noise(run, r, rows)
    for row in rows:
        labelled, correct = labelled + 1, correct + row["correct"]
        if row["kept"]:
            kept, kept_correct = kept + 1, kept_correct + row["correct"]
    write(folder / "labels.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n")
    stats = {"round": r, "difficulties": [difficulty_to_json(d) for d in difficulties], "labelled": labelled,
             "kept": kept, "label_accuracy": correct / max(labelled, 1), "kept_accuracy": kept_correct / max(kept, 1),
             "filters": filter_stats[0] if owners == 1 else [s for owner in filter_stats for s in owner]}
    write(stats_path, json.dumps(stats, indent=1))
    return stats


def with_noise(run: Run, r: int, rows: list[dict]) -> list[dict]:
    """The rows with rounds.noise / rounds.random_labels injected into their kept labels
    (``noise.py``); corrupted rows are re-scored by ground truth, for the logs only."""
    rc = run.cfg.rounds
    specs = [noise_from_config(rc.noise), noise_from_config(rc.random_labels, random_labels=True)]
    rows = inject(rows, specs, run.cfg.seed, r)
    for row in rows:
        if "noise" in row:
            row["correct"] = run.task.verify(run.task.parse(row["prompt"]), row["label"]).ok
    return rows


def write_metrics(run: Run, record: dict, summary: dict) -> None:
    """Rewrite metrics.jsonl with this round's lines replacing any from an interrupted attempt."""
    path = run.out / "metrics.jsonl"
    old = [x for x in read_jsonl(path) if x.get("round") != record["round"]] if path.exists() else []
    per_model = record["models"] or [record["cells"]]
    new = [{"round": record["round"], "step": record["step"], "model": m, **cell}
           for m, cells in enumerate(per_model) for cell in cells]
    lines = old + new + [{"kind": "round", **summary}]
    write(path, "".join(json.dumps(x) + "\n" for x in lines))


def inference_precision(cfg: RunConfig, device: torch.device) -> str:
    """Resolved precision of labelling, probes and evaluation: ``eval.precision``, or when unset
    the rounds' training precision (as before that setting existed)."""
    return resolve_precision(cfg.eval.precision or cfg.rounds.train.precision, device)


def write_runtime(run: Run, precision: str) -> None:
    """runtime.json: what ``auto`` resolved to on this machine (rewritten on every (re)start)."""
    tc = run.cfg
    write(run.out / "runtime.json", json.dumps({
        "device": str(run.device), "torch": torch.__version__, "world_size": distributed.world_size(),
        "precision": {"round0_train": resolve_precision(tc.round0.train.precision, run.device),
                      "rounds_train": resolve_precision(tc.rounds.train.precision, run.device), "inference": precision},
    }, indent=1))


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
    check_sources(cfg)  # before config.yaml is written, so a corrected path is not "a different config"
    device = distributed.init_from_env(cfg.device) or resolve_device(cfg.device)
    with contextlib.ExitStack() as held:
        if distributed.is_main():  # one job per run directory; its other ranks follow rank 0
            held.enter_context(run_dir_lock(out))
        distributed.barrier()
        prepare_run_dir(cfg, out)
        loggers = open_loggers(cfg.log, out, cfg.name, to_plain(cfg)) if distributed.is_main() else []
        for logger in loggers:
            held.callback(logger.close)
        return _rounds(cfg, out, device, log, base, loggers)


def _rounds(cfg: RunConfig, out: Path, device: torch.device, log, base: Path | None, loggers: list) -> Path:
    if base is not None:
        fork_base(cfg, out, base)
    run = Run(cfg, out, device, log=log if distributed.is_main() else lambda line: None)
    precision = inference_precision(cfg, run.device)
    write_runtime(run, precision)
    used = tuple(resolve_precision(t.precision, run.device) for t in (cfg.round0.train, cfg.rounds.train)) + (precision,)
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
        for logger in loggers:
            logger.log_round(round_scalars(summary, record["cells"]), r)
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
