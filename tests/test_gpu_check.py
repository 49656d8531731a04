"""benchmarks/gpu_check.py: the parts that need no GPU (its configs, commands, summary, refusal)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from selfimprove.config import load_config

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_toy_round_is_the_paper_preset_shrunk(gpu_check):
    preset = load_config(gpu_check.PRESET)
    toy = load_config(gpu_check.PRESET, gpu_check.TOY_OVERRIDES)
    assert toy.model == preset.model and toy.task == preset.task and toy.rounds.schedule == preset.rounds.schedule
    assert toy.device == "cuda" and toy.rounds.count == 1
    assert toy.round0.train.steps * toy.round0.train.batch_size < preset.round0.train.steps * preset.round0.train.batch_size / 100


def test_commands_run_the_cli_on_the_gpu(gpu_check, tmp_path):
    round_cmd = gpu_check.round_command(tmp_path)
    assert round_cmd[1:4] == ["-m", "selfimprove.cli", "run"] and "device=cuda" in round_cmd
    torchrun = gpu_check.torchrun_command(tmp_path)
    assert "--nproc_per_node=1" in torchrun and "device=cuda" in torchrun and str(tmp_path / "torchrun") in torchrun


def test_summary_names_failed_steps(gpu_check):
    ok = gpu_check.summary_lines({"training": {"mfu": 0.4, "steps": 30}, "round": {"seconds": 61.0}})
    assert ok[-1] == "GPU_CHECK ok" and "mfu 0.4" in ok[1]
    bad = gpu_check.summary_lines({"training": {"mfu": 0.4}, "round": {"error": "boom\nCUDA error: out of memory"}})
    assert bad[-1] == "GPU_CHECK failed: round" and "out of memory" in bad[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_stops_with_one_error_line(gpu_check, capsys):
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "CUDA" in err[0]


def test_the_cuda_refusal_is_decided_by_torch(gpu_check, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.cuda_missing_reason().startswith("error:")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpu_check.cuda_missing_reason() is None


def test_the_vote_round_runs_k_models_stacked_on_the_gpu(gpu_check, tmp_path):
    from selfimprove.runtime import stacks_models

    command = gpu_check.vote_round_command(tmp_path)
    assert command[1:4] == ["-m", "selfimprove.cli", "run"] and "device=cuda" in command and "scale=tiny" in command
    cfg = load_config(gpu_check.VOTE_PRESET, [a for a in command[5:] if "=" in a])
    assert cfg.rounds.k == 5 and cfg.device == "cuda" and stacks_models(cfg, torch.device("cuda"))
