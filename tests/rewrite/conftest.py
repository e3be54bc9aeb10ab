"""Fixtures shared by the rewrite tests."""

from __future__ import annotations

import pytest

from porter.rewrite import narrow


@pytest.fixture
def always_narrow(monkeypatch):
    """Cut every file, however small, and whatever share of it is kept."""
    monkeypatch.setattr(narrow, "MIN_BYTES", 0)
    monkeypatch.setattr(narrow, "MAX_KEPT_SHARE", 1.0)


@pytest.fixture
def skeletons(monkeypatch) -> list[str]:
    """The sources the narrow port hands to libcst's port (a cut file's skeleton first), as it runs."""
    seen: list[str] = []
    real = narrow.port_source

    def spy(source, *args, **kwargs):
        seen.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(narrow, "port_source", spy)
    return seen
