"""Helpers the tests share for reading run directories and interrupting runs (imported by name: tests/
is on sys.path)."""

import json
from pathlib import Path


def evals(run_dir: Path) -> dict:
    """Every round's eval.json without the wall and phase times (the fields allowed to differ)."""
    out = {}
    for path in sorted(Path(run_dir).glob("round_*/eval.json")):
        record = json.loads(path.read_text())
        record.pop("wall_time_s")
        record.pop("phase_s", None)  # seconds too
        out[path.parent.name] = record
    return out


def losses(run_dir: Path) -> dict:
    """Every round's losses.jsonl as (model, step, loss) rows in step order: equal for two runs that
    trained the same (a resumed run's file holds each window once)."""
    from selfimprove.loss_log import read_losses

    return {path.parent.name: read_losses(path) for path in sorted(Path(run_dir).glob("round_*/losses.jsonl"))}


def crashing(train_steps, mine, step: int):
    """``train_steps`` that kills the training stage whose progress label ``desc`` satisfies
    ``mine(desc)``: before its first step when ``step`` is 0, else right after its checkpoint at
    ``step`` is written (a simulated kill; other stages train as usual)."""

    def crash(model, opt, tcfg, get_batch, start=0, on_checkpoint=None, desc=None, where="", on_losses=None):
        hit = mine(desc)
        if hit and step == 0:
            raise KeyboardInterrupt("simulated crash before the stage's first step")

        def checkpoint(s):
            on_checkpoint(s)
            if hit and s == step:
                raise KeyboardInterrupt("simulated crash")
        return train_steps(model, opt, tcfg, get_batch, start, checkpoint, desc, where, on_losses)

    return crash
