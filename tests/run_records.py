"""Helpers the tests share for reading run directories (imported by name: tests/ is on sys.path)."""

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
