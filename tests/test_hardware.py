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


NATIVE_BUT_SLOWER = MatmulRates(fp32=128.0, bf16=82.0)  # a 2-core Xeon with AVX-512 BF16, no AMX (session 8)


@pytest.mark.parametrize("rates,native,expected", [
    (NATIVE, True, "bf16"),
    (NATIVE_BUT_SLOWER, True, "fp32"),  # the flag is there, the speed is not
    (MatmulRates(fp32=100.0, bf16=120.0), True, "fp32"),  # within the margin: not worth bf16's rounding
    (NATIVE, False, "fp32"),
])
def test_auto_takes_bf16_on_a_cpu_only_where_it_is_clearly_faster(rates, native, expected, monkeypatch):
    from selfimprove.train import resolve_precision

    monkeypatch.setattr(hardware, "matmul_rates", lambda: rates)
    monkeypatch.setattr(hardware, "native_bf16", lambda: native)
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"  # an explicit choice is kept


RECORDED_BF16 = {"device": "cpu", "precision": {"round0_train": "bf16", "rounds_train": "bf16", "inference": "bf16"}}


def test_a_resume_keeps_what_auto_meant_at_the_first_start(monkeypatch):
    from selfimprove.runtime import pin_precisions

    monkeypatch.setattr(hardware, "matmul_rates", lambda: NATIVE_BUT_SLOWER)  # a re-measurement says fp32
    monkeypatch.setattr(hardware, "native_bf16", lambda: True)
    cpu = torch.device("cpu")
    cfg = load_config(SMOKE, ["round0.train.precision=auto", "rounds.train.precision=auto", "eval.precision=fp32"])
    resumed = pin_precisions(cfg, cpu, RECORDED_BF16)
    assert (resumed.round0.train.precision, resumed.rounds.train.precision) == ("bf16", "bf16")
    assert resumed.eval.precision == "fp32"  # explicit: never overridden
    fresh = pin_precisions(cfg, cpu, None)
    assert (fresh.round0.train.precision, fresh.rounds.train.precision) == ("fp32", "fp32")
    elsewhere = pin_precisions(cfg, cpu, {**RECORDED_BF16, "device": "cuda:0"})  # recorded on another device
    assert elsewhere.round0.train.precision == "fp32"


def test_the_round_loop_trains_at_the_recorded_precision_on_resume(monkeypatch, tmp_path):
    import json

    monkeypatch.setattr(hardware, "matmul_rates", lambda: NATIVE_BUT_SLOWER)
    monkeypatch.setattr(hardware, "native_bf16", lambda: True)
    seen = {}

    def stop(run):
        seen["cfg"] = run.cfg
        raise Stop

    monkeypatch.setattr(rounds, "build_models", stop)
    cfg = load_config(SMOKE, ["round0.train.precision=auto", "rounds.train.precision=auto", "device=cpu"])
    with pytest.raises(Stop):
        rounds.run_rounds(cfg, tmp_path, log=lambda line: None)
    assert seen["cfg"].round0.train.precision == "fp32"  # first start: measured
    (tmp_path / "runtime.json").write_text(json.dumps(RECORDED_BF16))  # as if the first start had measured bf16
    with pytest.raises(Stop):
        rounds.run_rounds(cfg, tmp_path, log=lambda line: None)
    assert seen["cfg"].round0.train.precision == "bf16"
    assert json.loads((tmp_path / "runtime.json").read_text())["precision"]["round0_train"] == "bf16"


def test_a_resume_on_the_same_device_does_not_measure_again(monkeypatch):
    from selfimprove.runtime import pin_precisions

    def forbidden():
        raise AssertionError("measured rates on a resume")

    monkeypatch.setattr(hardware, "matmul_rates", forbidden)
    monkeypatch.setattr(hardware, "native_bf16", lambda: True)
    cfg = load_config(SMOKE, ["round0.train.precision=auto", "rounds.train.precision=auto"])
    assert pin_precisions(cfg, torch.device("cpu"), RECORDED_BF16).rounds.train.precision == "bf16"
