"""Simulated `nki.compiler`: compile-time hints are accepted and ignored on the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def skip_middle_end_transformations() -> Iterator[None]:
    yield


def enable_stack_allocator(*args: Any, **kwargs: Any) -> Any:
    return args[0] if args and callable(args[0]) else (lambda f: f)


def force_auto_alloc(*args: Any, **kwargs: Any) -> Any:
    return args[0] if args and callable(args[0]) else (lambda f: f)
