"""libcst parsing for the port: a file without libcst's per-node validation, and the small
templates fixes build from, parsed once per text.

libcst validates every node it constructs (`CSTNode.__post_init__`), a fifth of a file's parse.
The parser builds only valid nodes (libcst's own note on `__post_init__` says validating parsed
trees could be skipped), so parsed trees skip it; nodes a fix builds by hand are validated as usual.
A fix's template (`torch.accelerator.is_available`, an `if` guarding a call) repeats across a
file's sites: libcst nodes are immutable, so one parsed tree can stand in every place it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import libcst as cst


@contextmanager
def _unvalidated() -> Iterator[None]:
    validate = cst.CSTNode.__post_init__
    cst.CSTNode.__post_init__ = _no_validation
    try:
        yield
    finally:
        cst.CSTNode.__post_init__ = validate


def _no_validation(node: cst.CSTNode) -> None:
    pass


def parse_module(source: str) -> cst.Module:
    """`cst.parse_module`, without validating the nodes the parser builds."""
    with _unvalidated():
        return cst.parse_module(source)


@lru_cache(maxsize=2048)
def parse_expression(code: str) -> cst.BaseExpression:
    """`cst.parse_expression`, once per text (the tree is shared: nodes are immutable)."""
    with _unvalidated():
        return cst.parse_expression(code)


@lru_cache(maxsize=2048)
def parse_statement(code: str) -> cst.BaseStatement:
    """`cst.parse_statement`, once per text (the tree is shared: nodes are immutable)."""
    with _unvalidated():
        return cst.parse_statement(code)
