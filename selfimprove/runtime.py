"""What this machine resolves for a run: its device, CPU threads and precisions (``runtime.json``).

None of it changes what a run computes on a given device, only how fast, so a resume may change
``device`` and ``threads`` (``resume.RESUMABLE_KEYS``); ``runtime.json`` records what the last
(re)start resolved ``auto`` to.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from selfimprove import distributed, hardware
from selfimprove.config import ConfigError, RunConfig
from selfimprove.layout import RunDir
from selfimprove.train import resolve_precision


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for but CUDA is not available; use device=cpu")
    return torch.device(name)


def use_threads(cfg: RunConfig) -> None:
    """Apply ``cfg.threads``; 0 keeps torch's default (every core), split between the ranks of
    this host under torchrun."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif distributed.local_world_size() > 1:
        torch.set_num_threads(distributed.threads_per_rank(os.cpu_count() or 1))


def inference_precision(cfg: RunConfig, device: torch.device) -> str:
    """Resolved precision of labelling, probes and evaluation: ``eval.precision``, or when unset
    the rounds' training precision (as before that setting existed)."""
    return resolve_precision(cfg.eval.precision or cfg.rounds.train.precision, device)


def precisions(cfg: RunConfig, device: torch.device) -> dict[str, str]:
    """Every precision the run uses, resolved: round 0's training, the rounds' and inference."""
    return {"round0_train": resolve_precision(cfg.round0.train.precision, device),
            "rounds_train": resolve_precision(cfg.rounds.train.precision, device),
            "inference": inference_precision(cfg, device)}


def pin_precisions(cfg: RunConfig, device: torch.device, recorded: dict | None) -> RunConfig:
    """``cfg`` with every ``auto`` precision made concrete, decided once by rank 0.

    On a CPU ``auto`` depends on a measurement (bf16 against fp32 matmuls), which a loaded machine
    could tip the other way on a later start; so a resumed run takes what ``recorded`` (the
    previous start's ``runtime.json``) says ``auto`` meant on this device, and computes exactly
    what the first start did. Explicit precisions are kept as they are.
    """
    previous = recorded["precision"] if recorded and recorded.get("device") == str(device) else {}
    # write_runtime records all three keys, so a resume on the same device never measures again.
    chosen = distributed.main_decides(previous or precisions(cfg, device))

    def pinned(precision: str | None, key: str) -> str | None:
        return chosen[key] if precision == "auto" else precision

    return dataclasses.replace(
        cfg,
        round0=dataclasses.replace(cfg.round0, train=dataclasses.replace(
            cfg.round0.train, precision=pinned(cfg.round0.train.precision, "round0_train"))),
        rounds=dataclasses.replace(cfg.rounds, train=dataclasses.replace(
            cfg.rounds.train, precision=pinned(cfg.rounds.train.precision, "rounds_train"))),
        eval=dataclasses.replace(cfg.eval, precision=pinned(cfg.eval.precision, "inference")),
    )


def stacks_models(cfg: RunConfig, device: torch.device) -> bool:
    """Whether the k vote models run as one stacked model: ``rounds.stacked``, where ``auto`` means
    on a CUDA device (ensemble.py)."""
    setting = cfg.rounds.stacked
    return device.type == "cuda" if setting == "auto" else bool(setting)


def write_runtime(files: RunDir, cfg: RunConfig, device: torch.device) -> None:
    """runtime.json: what ``auto`` resolved to on this machine (rewritten on every (re)start)."""
    record = {"device": str(device), "torch": torch.__version__, "world_size": distributed.world_size(),
              "precision": precisions(cfg, device), "threads": torch.get_num_threads(),
              "stacked": cfg.rounds.k > 1 and stacks_models(cfg, device)}
    if device.type == "cpu":  # timings mean little without the CPU's name, features and matmul rates
        record["cpu"] = hardware.describe_cpu()
    files.write_json(files.runtime, record, indent=1)
