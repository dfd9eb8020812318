"""observability/memory.py: malloc arenas limited at start-up, free heap trimmed; glibc only."""

from __future__ import annotations

import platform

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.observability import memory

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt and malloc_trim")
def test_arenas_are_limited_and_the_heap_trimmed_on_glibc() -> None:
    assert memory.limit_arenas(2) is True
    blocks = [bytearray(64 * 1024) for _ in range(2_000)]  # ~128 MB, then freed
    del blocks
    memory.trim()  # returns whether memory went back; must not fail either way


def test_zero_arenas_keeps_the_default() -> None:
    assert memory.limit_arenas(0) is False


@given(raw=st.text(max_size=6))
def test_the_environment_setting_is_never_an_error(raw: str) -> None:
    mp = pytest.MonkeyPatch()
    try:
        if "\x00" not in raw:
            mp.setenv("MODELSERVE_MALLOC_ARENAS", raw)
        value = memory.arenas_from_environment()
    finally:
        mp.undo()
    assert value >= 0
    try:
        expected = max(0, int(raw.strip()))
    except ValueError:
        expected = memory.DEFAULT_ARENAS
    if "\x00" not in raw:
        assert value == expected
