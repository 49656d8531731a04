"""CPU features, matmul rates and the bf16 warning; rates are injected, never measured here."""

from pathlib import Path

import pytest
import torch

from selfimprove import hardware, rounds
from selfimprove.config import load_config
from selfimprove.hardware import MatmulRates, cpu_features, precision_warning

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
EMULATED = MatmulRates(fp32=130.0, bf16=0.34)  # the AVX2 EPYC of issue 17
NATIVE = MatmulRates(fp32=130.0, bf16=260.0)
CPUINFO = "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse avx avx2 fma avx512f\n"


def test_cpu_features_reads_the_flags_line():
    assert cpu_features(CPUINFO) == {"avx512_bf16": False, "amx_bf16": False, "avx2": True}
    assert hardware.cpu_name(CPUINFO) == "Test CPU"
    assert not any(cpu_features("").values())


def test_bf16_is_slow_only_at_a_small_fraction_of_fp32():
    assert EMULATED.bf16_is_slow
    assert not NATIVE.bf16_is_slow
    assert not MatmulRates(fp32=100.0, bf16=30.0).bf16_is_slow  # slower, but not emulated
    assert NATIVE.of("bf16") == 260.0 and NATIVE.of("fp32") == 130.0


def test_bf16_on_an_emulating_cpu_gets_one_warning_line_with_the_rates(monkeypatch):
    monkeypatch.setattr(hardware, "matmul_rates", lambda: EMULATED)
    line = precision_warning(("fp32", "bf16"), torch.device("cpu"))
    assert line is not None and "\n" not in line
    assert "130" in line and "0.3" in line and "fp32" in line


@pytest.mark.parametrize("precisions,device,rates", [
    (("bf16",), "cpu", NATIVE),  # native bf16: nothing to say
    (("fp32", "fp32"), "cpu", EMULATED),  # bf16 never asked for
    (("bf16",), "meta", EMULATED),  # not a CPU: the rates say nothing about it
])
def test_no_warning_where_bf16_is_fast_or_unused(precisions, device, rates, monkeypatch):
    monkeypatch.setattr(hardware, "matmul_rates", lambda: rates)
    assert precision_warning(precisions, torch.device(device)) is None


def test_fp32_runs_never_measure(monkeypatch):
    def forbidden():
        raise AssertionError("measured rates for an fp32 run")

    monkeypatch.setattr(hardware, "matmul_rates", forbidden)
    assert precision_warning(("fp32",), torch.device("cpu")) is None


class Stop(Exception):
    pass


def test_a_bf16_run_on_an_emulating_cpu_logs_the_warning_before_building_models(monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "matmul_rates", lambda: EMULATED)

    def stop(run):
        raise Stop

    monkeypatch.setattr(rounds, "build_models", stop)
    lines: list[str] = []
    cfg = load_config(SMOKE, ["round0.train.precision=bf16", "device=cpu"])
    with pytest.raises(Stop):
        rounds.run_rounds(cfg, tmp_path, log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("warning: precision bf16")


def test_measured_rates_are_positive_and_cached():
    first = hardware.matmul_rates()
    assert first.fp32 > 0 and first.bf16 > 0
    assert hardware.matmul_rates() is first
