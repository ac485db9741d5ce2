"""Settings from VALGRAD_* environment variables."""

from __future__ import annotations

import pytest

from app.settings import Settings


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALGRAD_API_KEYS", " one, two ,,three")
    monkeypatch.setenv("VALGRAD_CORS_ORIGINS", "https://a.example")
    s = Settings()
    assert s.api_keys == ["one", "two", "three"] and s.cors_origins == ["https://a.example"]


def test_limits_follow_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALGRAD_MAX_FLOPS", "1234")
    monkeypatch.setenv("VALGRAD_MAX_NODES", "7")
    limits = Settings(max_json_depth=9).limits
    assert (limits.max_flops, limits.max_nodes, limits.max_json_depth) == (1234, 7, 9)


def test_defaults_are_open_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VALGRAD_API_KEYS", "VALGRAD_MAX_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.api_keys == [] and s.max_concurrency >= 1 and s.max_body_bytes > 10**7


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALGRAD_MAX_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="max_concurrency"):
        Settings()


def test_settings_table_lists_every_variable() -> None:
    from app.cli import settings_table

    table = settings_table()
    assert all(f"`VALGRAD_{name.upper()}`" in table for name in Settings.model_fields)
