"""Apply a trained run: load a round's model from its run directory and answer prompts greedily."""

from __future__ import annotations

from pathlib import Path

import torch

from selfimprove.checkpoint import CheckpointError, load_checkpoint
from selfimprove.config import config_from_dict
from selfimprove.evaluate import answer
from selfimprove.io import read_yaml
from selfimprove.networks import build_network
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import resolve_precision


def finished_rounds(run_dir: Path) -> list[int]:
    return sorted(int(p.parent.name.split("_")[1]) for p in run_dir.glob("round_*/DONE"))


def load_round_model(run_dir: Path, round_: int | None = None, model: int = 0):
    """(task, tokenizer, model, precision) of a finished round (default: the latest)."""
    if not (run_dir / "config.yaml").exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = config_from_dict(read_yaml(run_dir / "config.yaml"))
    done = finished_rounds(run_dir)
    if not done:
        raise CheckpointError(f"{run_dir} has no finished round yet")
    round_ = done[-1] if round_ is None else round_
    if round_ not in done:
        raise CheckpointError(f"round {round_} of {run_dir} is not finished; finished rounds: {done}")
    task = cfg.task.build()
    tok = Tokenizer.for_task(task)
    k = 1 if cfg.rounds.voting == "more_data" else cfg.rounds.models
    if model >= k:
        raise CheckpointError(f"the run has {k} model(s); --model must be below {k}")
    net = build_network(cfg.model, tok)
    load_checkpoint(run_dir / f"round_{round_:03d}", net, prefix="" if k == 1 else f"m{model}_")
    return task, tok, net, resolve_precision(cfg.eval.precision or cfg.rounds.train.precision, torch.device("cpu"))


def answer_prompts(task, tok, net, precision: str, prompts: list[str]) -> list[str]:
    """Greedy answers of a loaded model (malformed prompts are a one-line TaskError)."""
    problems = [task.parse(p) for p in prompts]
    return answer(net, task, tok, problems, 256, precision) if problems else []


def predict(run_dir: Path, prompts: list[str], round_: int | None = None, model: int = 0) -> list[str]:
    """The model's greedy answer to each prompt."""
    return answer_prompts(*load_round_model(run_dir, round_, model), prompts)
