"""nisa.scalar_load / nisa.scalar_store (NKI >= 0.7): device integers as NkiScalar."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import version
from porter.nki.api import _common as c
from porter.nki.errors import NkiValidationError
from porter.nki.scalar import NkiScalar
from porter.nki.tensor import NkiTensor

_DTYPES = ("int32", "int64")


def _one_element(api: str, what: str, t: Any) -> NkiTensor:
    if not isinstance(t, NkiTensor) or t.size != 1:
        raise NkiValidationError(f"{api}: {what} must be a 1x1 tensor")
    if t.kind == "psum":
        raise NkiValidationError(f"{api}: {what} must be in SBUF or HBM, not PSUM")
    if t.dtype not in _DTYPES:
        hint = " (unsigned dtypes are not accepted; use the signed dtype of the same width)" if t.dtype.startswith(
            "uint") else ""
        raise NkiValidationError(f"{api}: {what} dtype must be nl.int32 or nl.int64, got {t.dtype}{hint}")
    return t


def scalar_load(src: Any) -> NkiScalar:
    """Load the value of a 1x1 int32/int64 tensor as an NkiScalar of the same dtype."""
    version.require("nisa.scalar_load", "0.7")
    t = _one_element("scalar_load", "src", src)
    c.record("nisa.scalar_load", "sync")
    return NkiScalar(int(np.asarray(t._read_raw()).reshape(-1)[0]), t.dtype)


def scalar_store(dst: Any, src: Any) -> None:
    """Write an NkiScalar (or a Python int) into a 1x1 int32/int64 tensor."""
    version.require("nisa.scalar_store", "0.7")
    t = _one_element("scalar_store", "dst", dst)
    if isinstance(src, NkiScalar):
        value = src._nki_scalar_value()
    elif isinstance(src, int) and not isinstance(src, bool):
        value = src
    else:
        raise NkiValidationError(f"scalar_store: src must be an NkiScalar or an int, got {type(src).__name__}")
    t._write(np.asarray(value).reshape(t.shape))
    c.record("nisa.scalar_store", "sync")
