"""Simulated `nki.collectives`: present so kernels import; every call raises."""

from __future__ import annotations

from typing import Any

from porter.nki.errors import unsupported


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)

    def fn(*args: Any, **kwargs: Any) -> None:
        raise unsupported(f"nki.collectives.{name}", "collectives are not simulated")

    fn.__name__ = name
    return fn
