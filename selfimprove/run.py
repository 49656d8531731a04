"""A run in memory: its task and tokenizer, the k models with their optimizers and training sets.

Rebuilt identically on every (re)start: each model's initial weights, its D0 and its batch order
come from seeds of the config alone (``init_seed``, ``d0_seed``, ``order_seed``), and a round
loads what it needs from the run directory's checkpoints (``load_round``)::

    run = Run(cfg, torch.device("cpu"))
    build_models(run)              # k fresh models, their optimizers, D0 each
    load_round(run, files, 3)      # every model as round 3 left it
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from selfimprove.checkpoint import load_checkpoint
from selfimprove.config import RunConfig
from selfimprove.curriculum import CurriculumBatches, level_of, split_by_level
from selfimprove.data import BatchPlan, TokenSet, build_token_set
from selfimprove.evaluate import evaluate, grid
from selfimprove.generate import Decoding
from selfimprove.init_from import warm_start
from selfimprove.layout import RunDir
from selfimprove.networks import build_network
from selfimprove.runtime import inference_precision
from selfimprove.tasks.base import difficulty_from_json, format_difficulty
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import TrainConfig, make_optimizer


@dataclass
class Run:
    """Everything a round computes with; the run directory's files are ``layout.RunDir``'s."""

    cfg: RunConfig
    device: torch.device
    task: object = field(init=False)
    tok: Tokenizer = field(init=False)
    models: list = field(default_factory=list)
    optimizers: list = field(default_factory=list)
    sets: list = field(default_factory=list)  # per model: [D0, D1, ...] as TokenSets (None: all filtered out)
    d0_levels: list = field(default_factory=list)  # per model, with round0.curriculum: D0 split by level
    # The round whose checkpoints every model holds; None while they are as built or trained
    # since. A round loads its models once and reuses them for the probe, labelling and training.
    loaded: int | None = None

    def __post_init__(self) -> None:
        self.task = self.cfg.task.build()
        self.tok = Tokenizer.for_task(self.task)

    @property
    def k(self) -> int:
        return self.cfg.rounds.k

    def init_seed(self, m: int) -> int:
        """Model m's initial weights; one for all models with voting shared_init."""
        return self.cfg.seed if self.cfg.rounds.variant.shared_init else self.order_seed(m)

    def d0_seed(self, m: int) -> int:
        """Model m's D0; one for all models with voting shared_init or shared_d0."""
        return self.cfg.seed if self.cfg.rounds.variant.shared_d0 else self.order_seed(m)

    def order_seed(self, m: int) -> int:
        """Model m's batch order in every round: models always differ here (B.2.4, Fig. 15)."""
        return self.cfg.seed + 1000 * m


def build_models(run: Run) -> None:
    """The k models as initialised (or warm-started by ``model.init_from``), each with D0."""
    for m in range(run.k):
        model = new_network(run, m, run.init_seed(m))
        run.models.append(model)
        run.optimizers.append(make_optimizer(model, run.cfg.round0.train))
        d0, levels = initial_set(run, m)
        run.sets.append([d0])
        run.d0_levels.append(levels)


def new_network(run: Run, m: int, seed: int):
    """Model m's network as initialised from ``seed`` (or warm-started by ``model.init_from``), on the run's device."""
    torch.manual_seed(seed)
    model = build_network(run.cfg.model, run.tok)
    if run.cfg.model.init_from:
        warm_start(model, run.tok, Path(run.cfg.model.init_from), m)
    return model.to(run.device)


def round0_batches(run: Run, m: int, plan: BatchPlan, state: dict | None = None):
    """``step -> (x, y)``: round 0's batches of model m, from D0 or by ``round0.curriculum``
    (then a ``CurriculumBatches``, restored from a checkpoint's ``state``)."""
    pad, curriculum = run.tok.pad_id, run.cfg.round0.curriculum
    if curriculum is None:
        return lambda step: plan.batch(run.sets[m][:1], step, pad)
    batches = CurriculumBatches(curriculum, run.d0_levels[m], plan, pad, frontier_accuracy(run, m))
    batches.restore(state)
    return batches


def frontier_accuracy(run: Run, m: int):
    """``i -> accuracy`` of model m on fresh problems of D0's i-th level (ground truth, inside D0's
    range: round 0's curriculum only), from the stream ``curriculum/<model seed>``."""
    r0, c = run.cfg.round0, run.cfg.round0.curriculum
    cells = grid(r0.low, r0.high)
    by_level = {}
    for cell in cells:
        by_level.setdefault(level_of(cell), []).append(cell)
    ordered = [by_level[level] for level in sorted(by_level)]
    decoding = Decoding(run.cfg.eval.batch_size, inference_precision(run.cfg, run.device))

    def accuracy(i: int) -> float:
        n = max(1, c.check_problems // len(ordered[i]))
        results = evaluate(run.models[m], run.task, run.tok, ordered[i], n, run.order_seed(m), decoding,
                           stream="curriculum")
        return sum(r["accuracy"] for r in results) / len(results)

    return accuracy


def d0_accuracy(run: Run, m: int, n: int, cycle: int, r0=None, model=None) -> dict[str, float]:
    """Model m's exact-match accuracy on every cell of D0's range (or of ``r0``'s: the prelude's),
    ``n`` fresh problems each, from the stream ``round0-check/<cycle>`` (ground truth inside D0's
    range: round0.cycles only). ``model``: a prelude candidate of model m instead, on the same problems."""
    r0 = r0 or run.cfg.round0
    decoding = Decoding(run.cfg.eval.batch_size, inference_precision(run.cfg, run.device))
    results = evaluate(model or run.models[m], run.task, run.tok, grid(r0.low, r0.high), n,
                       run.order_seed(m), decoding, stream=f"round0-check/{cycle}")
    return {format_difficulty(difficulty_from_json(c["difficulty"])): c["accuracy"] for c in results}


def round_train(cfg: RunConfig, r: int) -> TrainConfig:
    """How round r trains: round0.train, or rounds.train peaking at lr * rounds.lr_decay^(r-1)."""
    if r == 0:
        return cfg.round0.train
    return replace(cfg.rounds.train, lr=cfg.rounds.train.lr * cfg.rounds.lr_decay ** (r - 1))


def round_plan(run: Run, m: int, r: int, tcfg) -> BatchPlan:
    """Model m's batch order in round r (a function of the config's seeds, the round and the step)."""
    return BatchPlan(run.order_seed(m), r, tcfg.batch_size, run.cfg.rounds.newest_fraction, tcfg.bucket,
                     run.cfg.rounds.mixture)


def training_sets(sets: list, r: int, keep_round0: bool) -> list:
    """The sets round r trains on: D0 .. Dr, without D0 after round 0 unless ``keep_round0``, and
    without rounds whose labels were all filtered out (None). D0 stays when nothing else is left."""
    rounds = [s for s in sets[1 : r + 1] if s is not None]
    return sets[:1] + rounds if keep_round0 or not rounds else rounds


def load_round(run: Run, files: RunDir, r: int) -> None:
    """Every model and optimizer as round r left them; nothing is read when they already are."""
    if run.loaded == r:
        return
    for m in range(run.k):
        load_model(run, files, r, m)
    run.loaded = r


def load_model(run: Run, files: RunDir, r: int, m: int) -> dict:
    """Model m (and its optimizer) from its checkpoint in round r; returns the checkpoint's state."""
    return load_checkpoint(files.round(r), run.models[m], run.optimizers[m], files.prefix(m), run.tok)


def initial_set(run: Run, m: int) -> tuple[TokenSet, list[TokenSet] | None]:
    """D0 of model m: oracle-labelled problems in [low, high] (the only training use of solve),
    and with ``round0.curriculum`` the same rows split by level (else None)."""
    r0 = run.cfg.round0
    problems = initial_problems(run.task, r0, run.d0_seed(m))
    d0 = d0_problems_set(run, m, r0, problems)
    if r0.curriculum is None:
        return d0, None
    return d0, split_by_level(d0, [run.task.difficulty(p) for p in problems])


def d0_problems_set(run: Run, m: int, r0, problems: list | None = None) -> TokenSet:
    """Model m's oracle-labelled problems in ``r0.low .. r0.high``, drawn as D0 is: D0 itself, or
    with ``r0.high`` cut to ``round0.prelude.high`` the prelude's set."""
    problems = initial_problems(run.task, r0, run.d0_seed(m)) if problems is None else problems
    levels = r0.levels or len(grid(r0.low, r0.high))  # its weight under rounds.mixture = levels
    return build_token_set(run.tok, [(run.task.prompt(p), run.task.solve(p)) for p in problems], levels)


def initial_problems(task, r0, model_seed: int) -> list:
    """The problems of D0 (also read back by ``selfimprove analyze carries``)."""
    rng = random.Random(f"round0/{model_seed}")
    return [task.sample_initial(r0.low, r0.high, rng) for _ in range(r0.examples)]
