"""Self-describing checkpoints: safetensors tensors + JSON metadata, never pickle.

A checkpoint is one folder, ``<prefix>checkpoint/`` inside a round folder::

    <prefix>checkpoint/
      model.safetensors      weights
      optimizer.safetensors  AdamW moments and step counts, keyed by parameter name
      state.json             model config, vocabulary, step, optimizer hyperparameters, extras

It is one atomic unit: a new checkpoint is written in full to ``.<prefix>checkpoint.tmp/``, the
current one is renamed aside to ``.<prefix>checkpoint.old/``, the new one renamed into place, and
the old one deleted. A kill at any instant leaves either the new checkpoint in place or the old one
aside, which the next read puts back — never step-N weights beside an older step's state (three
separately renamed files could pair them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from selfimprove.errors import UserError
from selfimprove.io import atomic_write_bytes, atomic_write_text, fsync_dir
from selfimprove.model import Transformer
from selfimprove.tokenizer import Tokenizer


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupted or does not fit the config: a one-line user error."""


def checkpoint_dir(folder: Path, prefix: str = "") -> Path:
    """Where model ``prefix`` keeps its checkpoint inside a round folder."""
    return Path(folder) / f"{prefix}checkpoint"


def _aside(target: Path, tag: str) -> Path:
    return target.with_name(f".{target.name}.{tag}")


def _recover(target: Path) -> None:
    """Finish a swap a kill interrupted: the old checkpoint goes back if no new one took its place."""
    old = _aside(target, "old")
    if old.exists() and not target.exists():
        old.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _paths(folder: Path, prefix: str) -> tuple[Path, Path, Path]:
    target = checkpoint_dir(folder, prefix)
    if not target.exists() and (Path(folder) / f"{prefix}state.json").exists():
        target = Path(folder)  # a run written before checkpoints were folders: files beside the round's
        return target / f"{prefix}model.safetensors", target / f"{prefix}optimizer.safetensors", target / f"{prefix}state.json"
    return target / "model.safetensors", target / "optimizer.safetensors", target / "state.json"


def has_checkpoint(folder: Path, prefix: str = "") -> bool:
    """A complete checkpoint of model ``prefix`` is in ``folder`` (after recovering a torn swap)."""
    _recover(checkpoint_dir(folder, prefix))
    return _paths(folder, prefix)[2].exists()


def save_checkpoint(
    folder: Path, model: Transformer, optimizer: torch.optim.Optimizer | None, meta: dict, prefix: str = ""
) -> None:
    """Write weights, optimizer state and ``meta`` (JSON-able: step, vocabulary, …) as one unit."""
    target = checkpoint_dir(folder, prefix)
    tmp, old = _aside(target, "tmp"), _aside(target, "old")
    _recover(target)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_write_bytes(tmp / "model.safetensors",
                       save_tensors({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}))
    state = {"model_config": model.cfg.to_dict(), **meta}
    if optimizer is not None:
        tensors, hyper = optimizer_tensors(model, optimizer)
        atomic_write_bytes(tmp / "optimizer.safetensors", save_tensors(tensors))
        state["optimizer"] = hyper
    atomic_write_text(tmp / "state.json", json.dumps(state, indent=1, sort_keys=True))
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def optimizer_tensors(model: Transformer, optimizer: torch.optim.Optimizer) -> tuple[dict, list[dict]]:
    """AdamW state as flat named tensors plus the param groups' hyperparameters."""
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {}
    for p, state in optimizer.state.items():
        for key, value in state.items():
            tensors[f"{names[id(p)]}::{key}"] = torch.as_tensor(value).detach().clone().cpu()
    hyper = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    for group in hyper:
        group["betas"] = list(group["betas"])
    return tensors, hyper


def read_state(folder: Path, prefix: str = "") -> dict:
    _recover(checkpoint_dir(folder, prefix))
    path = _paths(folder, prefix)[2]
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path.parent} (missing {path.name})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"corrupted checkpoint file {path}: {err}; delete it to redo that step") from None


def load_checkpoint(
    folder: Path,
    model: Transformer,
    optimizer: torch.optim.Optimizer | None = None,
    prefix: str = "",
    tok: Tokenizer | None = None,
) -> dict:
    """Load weights (and optimizer state) into ``model``; returns the metadata.

    Refuses a checkpoint whose model config differs from ``model``'s, naming the first difference,
    and, given ``tok``, one whose stored vocabulary is not ``tok``'s (its ids would mean other tokens).
    """
    state = read_state(folder, prefix)
    if tok is not None and "vocab" in state and state["vocab"] != tok.to_json():
        raise CheckpointError(f"checkpoint {folder} was written with vocabulary {state['vocab']} but this run's is "
                              f"{tok.to_json()}; it belongs to another run")
    saved, wanted = state.get("model_config", {}), model.cfg.to_dict()
    for key in wanted:
        if saved.get(key) != wanted[key]:
            raise CheckpointError(
                f"checkpoint {folder} has model.{key}={saved.get(key)!r} but the config asks for {wanted[key]!r}"
            )
    weights, opt_path, _ = _paths(folder, prefix)
    try:
        tensors = load_tensors(weights.read_bytes())
        missing = set(model.state_dict()) ^ set(tensors)
        if missing:
            raise CheckpointError(f"checkpoint {weights} does not match the model (tensors {sorted(missing)[:3]})")
        model.load_state_dict(tensors)
        if optimizer is not None and "optimizer" in state:
            load_optimizer(model, optimizer, load_tensors(opt_path.read_bytes()), state["optimizer"])
    except (OSError, RuntimeError, ValueError, SafetensorError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"cannot read checkpoint in {folder}: {str(err).splitlines()[0]}") from None
    return state


def load_optimizer(model: Transformer, optimizer: torch.optim.Optimizer, tensors: dict, hyper: list[dict]) -> None:
    device = next(model.parameters()).device
    index = {id(p): i for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"])}
    state: dict[int, dict] = {}
    params = dict(model.named_parameters())
    for key, value in tensors.items():
        name, field = key.split("::")
        p = params[name]
        value = value if field == "step" else value.to(device)
        state.setdefault(index[id(p)], {})[field] = value
    groups = [
        {**h, "betas": tuple(h["betas"]), "params": [index[id(p)] for p in g["params"]]}
        for h, g in zip(hyper, optimizer.param_groups)
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
