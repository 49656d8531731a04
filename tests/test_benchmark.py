"""benchmarks/throughput.py: its RESULT line, its bf16 skip (rates injected) and a tiny end-to-end run."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from selfimprove.hardware import MatmulRates

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def load_throughput():
    spec = importlib.util.spec_from_file_location("throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["throughput"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bf16_rows_are_skipped_with_a_reason_where_bf16_is_emulated():
    bench = load_throughput()
    precisions, why = bench.precisions_to_run(MatmulRates(fp32=130.0, bf16=0.34))
    assert precisions == ["fp32"]
    assert why.startswith("bf16 rows skipped") and "0.3%" in why and "130" in why
    assert bench.precisions_to_run(MatmulRates(fp32=130.0, bf16=260.0)) == (["bf16", "fp32"], None)


def test_the_result_line_has_every_key_and_refuses_a_missing_one():
    bench = load_throughput()
    values = {key: 0.5 for key in bench.RESULT_KEYS} | {"outputs_identical": True}
    line = bench.result_line(values)
    assert line.startswith("RESULT ")
    assert [kv.split("=")[0] for kv in line.split()[1:]] == list(bench.RESULT_KEYS)
    with pytest.raises(KeyError, match="stacked_ratio"):
        bench.result_line({k: v for k, v in values.items() if k != "stacked_ratio"})


@pytest.mark.slow  # ~15 s on a quiet 2-core machine (imports torch and transformers), 40 s shared
def test_a_tiny_benchmark_run_ends_with_the_result_line():
    out = subprocess.run([sys.executable, str(BENCH), "--tiny", "--threads", "1", "--plain-malloc"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert out.startswith("hardware: ") and "fp32" in out.splitlines()[0]
    last = out.strip().splitlines()[-1]
    keys = re.findall(r"(\w+)=", last)
    assert last.startswith("RESULT ") and keys == ["train_ratio", "generate_ratio", "mfu", "stacked_ratio",
                                                     "demo_train_ratio", "demo_generate_ratio", "outputs_identical"]
    assert "stacked ensemble: k = 5" in out and "demo model" in out


def test_the_demo_model_row_builds_the_demo_configs_network():
    """The full (non --tiny) run builds the demo's model from its config; a model section field
    that is not an architecture field (init_from, backend) once crashed it there."""
    from selfimprove.config import load_config
    from selfimprove.model import ModelConfig

    bench = load_throughput()
    shape = bench.demo_model_shape(tiny=False)
    cfg = ModelConfig(vocab_size=20, **shape)
    demo = load_config(bench.DEMO).model
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd) == (demo.n_layer, demo.n_head, demo.n_embd)


def load_labelling_floor():
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("labelling_floor", BENCH.parent / "labelling_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_labelling_floor_times_every_weight_product_a_decoder_runs():
    """The floor is one prefill and one step per further token over all four products of every layer,
    the head once per row and step; its FLOP count is that, by hand, for a 2-layer model."""
    import torch

    from selfimprove.model import ModelConfig, Transformer

    floor = load_labelling_floor()
    model = Transformer(ModelConfig(vocab_size=12, n_layer=2, n_head=2, n_embd=8, mlp_hidden=16))
    weights = floor.weight_products(model, torch.bfloat16)
    assert [tuple(w.shape) for w in weights] == [(24, 8), (8, 8), (32, 8), (8, 16)] * 2
    assert all(w.dtype == torch.bfloat16 and w.is_contiguous() for w in weights)
    body = 2 * (24 * 8 + 8 * 8 + 32 * 8 + 8 * 16)
    assert floor.floor_flops(weights, model.head.weight, rows=3, prompt_len=5, steps=4) == 2.0 * (
        body * 3 * (5 + 4) + 12 * 8 * 3 * 5)
    head = model.head.weight.to(torch.bfloat16)
    inputs = floor.floor_inputs(weights, head, rows=3, prompt_len=5, dtype=torch.bfloat16)
    assert sorted(inputs) == [(3, 8), (3, 16), (15, 8), (15, 16)]
    floor.floor_run(weights, head, inputs, rows=3, prompt_len=5, steps=4)
