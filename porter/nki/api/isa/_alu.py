"""ALU operator lookup and application for nki.isa instructions."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api.language import _ops as ops
from porter.nki.errors import NkiValidationError


def kind(api: str, op: Any, what: str = "op") -> str:
    op = ops.resolve(op)
    if op in ops.BITVEC:
        return "bitvec"
    if op in ops.BINARY:
        return "arith"
    if op in ops.UNARY:
        return "unary"
    raise NkiValidationError(f"{api}: {what}={ops.op_name(op)} is not a supported ALU operator")


def binary(api: str, op: Any, a: Any, b: Any, what: str = "op") -> np.ndarray:
    """Apply a binary ALU op.  Arithmetic in fp32; bitvec on integer bit patterns."""
    op = ops.resolve(op)
    k = kind(api, op, what)
    with np.errstate(all="ignore"):
        if k == "bitvec":
            return ops.BITVEC[op](np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64))
        if k == "unary":
            raise NkiValidationError(f"{api}: {what}={ops.op_name(op)} is unary; a binary operator is required")
        out = ops.BINARY[op](np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))
    return np.asarray(out).astype(np.float32)


def unary(api: str, op: Any, a: np.ndarray, what: str = "op") -> np.ndarray:
    op = ops.resolve(op)
    if op not in ops.UNARY:
        raise NkiValidationError(f"{api}: {what}={ops.op_name(op)} is not a supported activation/unary function")
    with np.errstate(all="ignore"):
        return np.asarray(ops.UNARY[op](np.asarray(a, dtype=np.float32))).astype(np.float32)


def reducer(api: str, op: Any, what: str = "op") -> tuple[Any, Any, Any]:
    """(combine(a, b), reduce(values, axis), identity) for a reduction operator."""
    op = ops.resolve(op)
    if op not in ops.REDUCE:
        raise NkiValidationError(f"{api}: {what}={ops.op_name(op)} is not a supported reduction operator")
    return ops.REDUCE[op]


def require_int(api: str, names_dtypes: list[tuple[str, str]]) -> None:
    for name, dt in names_dtypes:
        if not dtypes.is_int(dt):
            raise NkiValidationError(f"{api}: bitvec operators need integer dtypes; {name} is {dt}")


def is_same(op: Any, other: Any) -> bool:
    return ops.resolve(op) is ops.resolve(other)
