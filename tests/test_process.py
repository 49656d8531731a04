"""The malloc setting of long runs is applied where glibc exists and changes no result."""

import ctypes.util
import platform

import pytest

from selfimprove.process import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not ctypes.util.find_library("c"), reason="glibc only")
def test_glibc_accepts_every_setting():
    assert keep_freed_memory() is True
