"""Apply a trained run: load a round's model from its run directory and answer prompts greedily."""

from __future__ import annotations

from pathlib import Path

import torch

from selfimprove.checkpoint import CheckpointError, load_checkpoint, read_state
from selfimprove.config import config_from_dict
from selfimprove.evaluate import answer
from selfimprove.generate import Decoding
from selfimprove.io import read_yaml
from selfimprove.layout import RunDir
from selfimprove.networks import build_network
from selfimprove.runtime import inference_precision
from selfimprove.tokenizer import Tokenizer


def load_round_model(run_dir: Path, round_: int | None = None, model: int = 0):
    """(task, tokenizer, model, precision) of a finished round (default: the latest)."""
    config = RunDir(run_dir).config
    if not config.exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = config_from_dict(read_yaml(config))
    files = RunDir.of(run_dir, cfg)
    done = files.finished()
    if not done:
        raise CheckpointError(f"{run_dir} has no finished round yet")
    round_ = done[-1] if round_ is None else round_
    if round_ not in done:
        raise CheckpointError(f"round {round_} of {run_dir} is not finished; finished rounds: {done}")
    task = cfg.task.build()
    if model >= files.k:
        raise CheckpointError(f"the run has {files.k} model(s); --model must be below {files.k}")
    tok = stored_tokenizer(read_state(files.round(round_), files.prefix(model)), task)
    net = build_network(cfg.model, tok)
    load_checkpoint(files.round(round_), net, prefix=files.prefix(model))  # tok is the checkpoint's own
    return task, tok, net, inference_precision(cfg, torch.device("cpu"))


def stored_tokenizer(state: dict, task) -> Tokenizer:
    """The ids the checkpoint was trained with (its stored vocabulary), not today's task code's; a
    checkpoint from before vocabularies were stored gets the task's own."""
    if "vocab" not in state:
        return Tokenizer.for_task(task)
    try:
        return Tokenizer.from_json(state["vocab"], task)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint vocabulary does not fit task {task.name!r}: {err}") from None


def answer_prompts(task, tok, net, precision: str, prompts: list[str]) -> list[str]:
    """Greedy answers of a loaded model (malformed prompts are a one-line TaskError)."""
    problems = [task.parse(p) for p in prompts]
    return answer(net, task, tok, problems, Decoding(256, precision)) if problems else []


def predict(run_dir: Path, prompts: list[str], round_: int | None = None, model: int = 0) -> list[str]:
    """The model's greedy answer to each prompt."""
    return answer_prompts(*load_round_model(run_dir, round_, model), prompts)
