"""Every `porter lint` test runs in its own temporary working directory, so relative paths in the
output are predictable and no cache is ever written into the checkout."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("PORTER_CACHE_DIR", "PORTER_NO_CACHE", "PORTER_OUTPUT_FORMAT", "CI"):
        monkeypatch.delenv(var, raising=False)
