"""Where a run's numbers go besides its own files: TensorBoard and Weights & Biases, both opt-in.

The run directory is always the record (``metrics.jsonl``, ``eval.json``; docs/RUN_DIR.md) and the
report is made from it alone. A logger only mirrors what a round wrote there, once per round::

    round/longest_at_99, round/label_accuracy, round/kept_fraction, round/wall_time_s
    accuracy/<difficulty>        mean over the k models, one curve per evaluated difficulty

with the round index as the step, so curves line up with the report's rounds. Config::

    log: {tensorboard: true}                      # events in RUN_DIR/tensorboard/
    log: {wandb: true, wandb_mode: offline}       # RUN_DIR/wandb/; `wandb sync` uploads later

``wandb_mode: online`` needs the network and a login; the default never touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from selfimprove.errors import UserError

WANDB_MODES = ("offline", "online", "disabled")


@dataclass(frozen=True)
class LogSection:
    tensorboard: bool = False
    wandb: bool = False
    wandb_mode: str = "offline"
    wandb_project: str = "selfimprove"

    def __post_init__(self) -> None:
        if self.wandb_mode not in WANDB_MODES:
            raise ValueError(f"log.wandb_mode must be one of {', '.join(WANDB_MODES)}, got {self.wandb_mode!r}")


class RoundLogger(Protocol):
    def log_round(self, scalars: dict[str, float], round_: int) -> None: ...

    def close(self) -> None: ...


def round_scalars(summary: dict, cells: list[dict]) -> dict[str, float]:
    """One round's numbers as flat ``name -> value`` pairs (None values are left out)."""
    out = {f"round/{k}": float(v) for k, v in summary.items()
           if k in ("longest_at_99", "label_accuracy", "kept_fraction", "wall_time_s") and v is not None}
    for cell in cells:
        d = cell["difficulty"]
        name = "x".join(map(str, d)) if isinstance(d, list) else str(d)
        out[f"accuracy/{name}"] = float(cell["accuracy"])
    return out


class TensorBoardLogger:
    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("log.tensorboard needs the tensorboard package: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(folder))

    def log_round(self, scalars: dict[str, float], round_: int) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, round_)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    def __init__(self, folder: Path, name: str, config: dict[str, Any], section: LogSection) -> None:
        try:
            import wandb
        except ImportError:
            raise UserError("log.wandb needs the wandb package: pip install wandb") from None
        folder.mkdir(parents=True, exist_ok=True)
        # resume="allow" with a fixed id: a resumed run directory continues the same W&B run.
        self.run = wandb.init(project=section.wandb_project, name=name, id=_run_id(folder), resume="allow",
                              dir=str(folder), mode=section.wandb_mode, config=config)

    def log_round(self, scalars: dict[str, float], round_: int) -> None:
        self.run.log({**scalars, "round": round_})

    def close(self) -> None:
        self.run.finish()


def _run_id(folder: Path) -> str:
    """A W&B id stored beside the run, so every resume of a run directory is the same W&B run."""
    import secrets

    path = folder / "run_id"
    if not path.exists():
        path.write_text(secrets.token_hex(8))
    return path.read_text().strip()


def open_loggers(section: LogSection, out: Path, name: str, config: dict[str, Any]) -> list[RoundLogger]:
    loggers: list[RoundLogger] = []
    if section.tensorboard:
        loggers.append(TensorBoardLogger(out / "tensorboard"))
    if section.wandb:
        loggers.append(WandbLogger(out / "wandb", name, config, section))
    return loggers
