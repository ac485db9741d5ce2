"""The server's allocator settings: applied on glibc, and an operator's own settings win."""

from __future__ import annotations

import platform

import pytest

from app.allocator import cap_malloc_arenas, keep_freed_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="these are glibc's mallopt settings")


def test_arenas_are_capped_unless_the_operator_chose() -> None:
    """Regression (found by the soak): per-thread malloc arenas grew the server's memory 15-30% in minutes."""
    assert cap_malloc_arenas() is True


def test_operator_arena_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cap_malloc_arenas() is False


def test_freed_memory_is_kept_for_reuse() -> None:
    assert keep_freed_memory() is True


@pytest.mark.parametrize("variable", ["MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"])
def test_operator_trim_settings_win(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    assert keep_freed_memory() is False
