"""What every instrument reads from a run directory: its config, task, rounds and labels."""

from __future__ import annotations

import json
from pathlib import Path

from selfimprove.config import ConfigError, RunConfig, config_from_dict
from selfimprove.io import atomic_write_bytes, atomic_write_text, read_json, read_yaml
from selfimprove.layout import RunDir


def run_config(run_dir: Path) -> RunConfig:
    files = RunDir(run_dir)
    if not files.config.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml); pass a folder written by `selfimprove run`")
    return config_from_dict(read_yaml(files.config))


def run_task(cfg: RunConfig):
    return cfg.task.build()


def finished(run_dir: Path) -> list[int]:
    return RunDir(run_dir).finished()


def labelled_rounds(run_dir: Path) -> list[int]:
    files = RunDir(run_dir)
    return files.rounds_with(files.labels(0).name)


def labels(run_dir: Path, r: int) -> list[dict]:
    return RunDir(run_dir).read_labels(r)


def filter_stats(run_dir: Path, r: int) -> Path:
    return RunDir(run_dir).filter_stats(r)


def eval_record(run_dir: Path, r: int) -> dict | None:
    path = RunDir(run_dir).eval(r)
    return read_json(path) if path.exists() else None


def pick_round(run_dir: Path, r: int | None, among: list[int], what: str) -> int:
    """``r``, or the latest of ``among``; a one-line error when there is none or it is not there."""
    if not among:
        raise ConfigError(f"{run_dir} has no round with {what} yet")
    if r is None:
        return among[-1]
    if r not in among:
        raise ConfigError(f"round {r} of {run_dir} has no {what}; rounds that do: {among}")
    return r


def save(run_dir: Path, name: str, record: dict, png: bytes | None) -> Path:
    """``analysis/<name>.json`` (+ ``.png``); returns the JSON's path."""
    folder = RunDir(run_dir).analysis
    if png is not None:
        atomic_write_bytes(folder / f"{name}.png", png)
    atomic_write_text(folder / f"{name}.json", json.dumps(record, indent=1) + "\n")
    return folder / f"{name}.json"
