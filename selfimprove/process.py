"""Process settings that make long CPU runs cheaper without changing a single number.

glibc's malloc returns freed memory to the kernel eagerly and serves large blocks with ``mmap``,
so a training step's activations are unmapped and faulted back in on every step: ``make demo``
had 30.8 M minor page faults and 124 s of system time on a 2-core AVX2 machine. Keeping freed
memory in the heap removes most of them (100 fp32 demo steps: 4,381 -> 707 faults a step, system
time 1.1 -> 0.3 s). The same settings the benchmark applies through ``MALLOC_*_`` variables, set
here at run time with ``mallopt`` so ``selfimprove run`` needs no wrapper.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {M_MMAP_THRESHOLD: 1 << 30, M_TRIM_THRESHOLD: 1 << 34, M_TOP_PAD: 1 << 28}


def keep_freed_memory() -> bool:
    """Ask glibc malloc to keep freed memory; False where there is no glibc (then nothing changes)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, min(value, 2**31 - 1)) == 1 for param, value in SETTINGS.items())
