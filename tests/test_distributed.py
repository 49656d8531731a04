"""torchrun with two CPU processes (gloo): the smoke run completes and rank 0 alone writes files."""

import json
import os
import subprocess
import sys
from pathlib import Path

from selfimprove import distributed

ROOT = Path(__file__).resolve().parents[1]


def test_shard_and_gather_are_inverse_in_one_process():
    items = list(range(11))
    assert distributed.shard(items) == items
    assert distributed.gather(distributed.shard(items), len(items)) == items


def test_torchrun_two_cpu_ranks_run_the_smoke_config(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "selfimprove.cli", "run", "configs/smoke.yaml", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("round   2") == 1  # one summary line per round: rank 0 only
    for r in range(3):
        assert (out / f"round_{r:03d}" / "DONE").exists()
    labels = (out / "round_001" / "labels.jsonl").read_text().splitlines()
    assert len(labels) == 64  # sharded labelling gathered back: every problem once
    record = json.loads((out / "round_002" / "eval.json").read_text())
    assert [c["n"] for c in record["cells"]] == [16] * 6
