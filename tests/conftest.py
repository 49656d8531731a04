import os

import pytest
import torch
from hypothesis import settings

# CI (CI=true) runs hypothesis with a fixed seed so a green main stays green; locally each run
# explores new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

from selfimprove.model import ModelConfig, Transformer


@pytest.fixture
def load_script():
    """``load_script("round0_curve")`` -> scripts/round0_curve.py as a module (scripts are not a package)."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def tiny_model() -> Transformer:
    """A 2-layer random model small enough for exact equivalence tests in fp32."""
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=24, n_layer=2, n_head=2, n_embd=32, mlp_hidden=64)).eval()


def pytest_configure(config):
    # One intra-op thread per test process: the suite runs as 2 xdist workers on 2 cores, and
    # OpenMP threads that wait on a busy core turn millisecond matmuls into 10-ms stalls.
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # subprocesses started by tests inherit the same setting
