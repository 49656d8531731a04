"""What this CPU can compute fast: its vector features and its measured fp32 and bf16 matmul rates.

Torch runs bf16 matmuls on any CPU, but without native bf16 instructions (AVX-512 BF16 or AMX)
it may emulate them: on a 2-core AVX2 EPYC a bf16 product ran at 0.34 GFLOP/s against 120-139 in
fp32, so a bf16 run there is hundreds of times slower than the same run in fp32. The rates are
measured (the flags alone do not tell how well a torch build uses them), on small products so the
measurement itself stays quick even where bf16 is emulated, and once per process.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import torch

FEATURES = ("avx512_bf16", "amx_bf16", "avx2")  # /proc/cpuinfo flag names
SLOW_BF16_FRACTION = 0.25  # bf16 below this fraction of the fp32 rate counts as emulated
# ``precision: auto`` takes bf16 on a CPU only where it is clearly faster: native bf16 instructions
# do not make it so (a 2-core Xeon with AVX-512 BF16 and no AMX ran bf16 products at 0.65x fp32 and
# the demo's training at 0.7x; a Zen 4 EPYC ran them at 2x), and bf16 costs precision.
FAST_BF16_RATIO = 1.3
MATMUL_SIZE = 256  # 33 MFLOP a product: 0.1 s even at the emulated 0.34 GFLOP/s
MATMUL_BUDGET_S = 0.3  # stop repeating a product once this much time went into one dtype


@dataclass(frozen=True)
class MatmulRates:
    fp32: float  # GFLOP/s
    bf16: float

    @property
    def bf16_is_slow(self) -> bool:
        """bf16 runs at a small fraction of fp32 here (no native bf16): prefer fp32."""
        return self.bf16 < SLOW_BF16_FRACTION * self.fp32

    @property
    def bf16_is_faster(self) -> bool:
        """bf16 products run clearly faster than fp32 here: what ``precision: auto`` asks of a CPU."""
        return self.bf16 >= FAST_BF16_RATIO * self.fp32

    def of(self, precision: str) -> float:
        return self.bf16 if precision == "bf16" else self.fp32

    def describe(self) -> str:
        return f"fp32 {self.fp32:.0f} GFLOP/s, bf16 {self.bf16:.1f} GFLOP/s"


def cpu_features(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which of ``FEATURES`` the CPU flags list (all False where /proc/cpuinfo is unreadable)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    return {name: name in flags for name in FEATURES}


def cpu_name(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    import platform

    return platform.processor() or platform.machine()


def describe_cpu() -> str:
    """One line: name, features and measured rates, e.g. for a benchmark's header."""
    features = ", ".join(f"{name} {'yes' if have else 'no'}" for name, have in cpu_features().items())
    return f"{cpu_name()} ({features}); matmul {matmul_rates().describe()}"


def measure_rate(dtype: torch.dtype, n: int = MATMUL_SIZE, reps: int = 5) -> float:
    """GFLOP/s of an n^3 product in ``dtype``: best of up to ``reps`` after one warm-up."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    start = time.perf_counter()
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > MATMUL_BUDGET_S:
            break
    return 2 * n**3 / best / 1e9


@functools.cache
def matmul_rates() -> MatmulRates:
    """This process's fp32 and bf16 matmul rates, measured on first use (under 1 s) and cached."""
    return MatmulRates(fp32=measure_rate(torch.float32), bf16=measure_rate(torch.bfloat16))


def native_bf16() -> bool:
    """Torch's CPU backend has bf16 kernels that use the CPU's own bf16 instructions."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def precision_warning(precisions: tuple[str, ...], device: torch.device) -> str | None:
    """One warning line when any of a run's resolved ``precisions`` is bf16 on a CPU that
    emulates it (measured, see ``matmul_rates``); None otherwise."""
    if "bf16" not in precisions or device.type != "cpu":
        return None
    rates = matmul_rates()
    if not rates.bf16_is_slow:
        return None
    return (f"warning: precision bf16 on a CPU without fast bf16 matmuls ({rates.describe()} measured): "
            f"this run will be slow; set precision: fp32")
