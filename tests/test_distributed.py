"""torchrun with two CPU processes (gloo): the smoke run completes and rank 0 alone writes files."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from selfimprove import distributed
from selfimprove.config import load_config
from selfimprove.rounds import run_rounds

ROOT = Path(__file__).resolve().parents[1]


def test_shard_and_gather_are_inverse_in_one_process():
    items = list(range(11))
    assert distributed.shard(items) == items
    assert distributed.gather(distributed.shard(items), len(items)) == items


def test_threads_per_rank_split_the_cores(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.threads_per_rank(2) == 1
    assert distributed.threads_per_rank(16) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert distributed.threads_per_rank(2) == 1  # never zero
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert distributed.threads_per_rank(2) == 2


# Rank 1 looks at the file system one second late, so rank 0 has written config.yaml by then.
# Before the fix rank 1 saw the file, skipped the write's barrier, and the ranks' collectives
# paired up wrongly: the final barrier timed out (the torchrun test hung this way under load).
_SLOW_RANK = """
import datetime, os, sys, time
from pathlib import Path
import torch.distributed as dist
from selfimprove import distributed, resume
from selfimprove.config import load_config
from selfimprove.layout import RunDir

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=20))
if dist.get_rank() == 1:
    real = Path.exists
    Path.exists = lambda self: (time.sleep(1.0), real(self))[1]
cfg = load_config("configs/smoke.yaml")
resume.prepare_run_dir(cfg, distributed.shared(RunDir.of(sys.argv[1], cfg)))
dist.barrier()
dist.destroy_process_group()
print("ok")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_slow_rank_follows_rank_0s_view_of_the_run_directory(tmp_path):
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", _SLOW_RANK, str(tmp_path / "run")], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
    assert (tmp_path / "run" / "config.yaml").exists()


def _run_bounded(command: list[str], env: dict, timeout: int) -> subprocess.CompletedProcess:
    """Run ``command``; if it hangs, SIGABRT its process group so faulthandler prints every rank's
    Python stack, and fail with those stacks instead of a bare timeout."""
    proc = subprocess.Popen(command, cwd=ROOT, env={**env, "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        raise AssertionError(f"torchrun hung for {timeout} s; the ranks' stacks:\n{err[-6000:]}") from None
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


FP32 = ["round0.train.precision=fp32", "rounds.train.precision=fp32"]


def test_torchrun_two_cpu_ranks_run_the_smoke_config_as_one_process_would(tmp_path):
    out, single = tmp_path / "ddp", tmp_path / "single"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "selfimprove.cli", "run", "configs/smoke.yaml", *FP32, "--out", str(out)]
    done = _run_bounded(command, env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("round   2") == 1  # one summary line per round: rank 0 only
    for r in range(3):
        assert (out / f"round_{r:03d}" / "DONE").exists()
    labels = (out / "round_001" / "labels.jsonl").read_text().splitlines()
    assert len(labels) == 64  # sharded labelling gathered back: every problem once
    record = json.loads((out / "round_002" / "eval.json").read_text())
    assert [c["n"] for c in record["cells"]] == [16] * 6
    # The same run in one process: the gradients are token-weighted across ranks, so the two
    # agree up to float rounding, and the labels and evaluations exactly.
    run_rounds(load_config(ROOT / "configs" / "smoke.yaml", [*FP32, "threads=1"]), single, log=lambda line: None)
    for r in range(3):
        ours, theirs = (load_file(d / f"round_{r:03d}" / "checkpoint" / "model.safetensors") for d in (out, single))
        for name in ours:
            torch.testing.assert_close(ours[name], theirs[name], atol=1e-5, rtol=0)
    for r in (1, 2):
        assert (out / f"round_00{r}" / "labels.jsonl").read_text() == (single / f"round_00{r}" / "labels.jsonl").read_text()
    for r in range(3):
        a, b = (json.loads((d / f"round_{r:03d}" / "eval.json").read_text()) for d in (out, single))
        assert a["cells"] == b["cells"]
