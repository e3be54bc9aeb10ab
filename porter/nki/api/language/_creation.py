"""nki.language tensor creation."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor, region


def ndarray(shape: Any, dtype: Any, buffer: Any = None, name: str = "", address: Any = None) -> NkiTensor:
    """New uninitialised tensor (sentinel-filled: NaN for floats, 4 for ints)."""
    return c.allocate(shape, dtype, buffer, name)


def _filled(api: str, shape: Any, dtype: Any, buffer: Any, name: str, value: Any) -> NkiTensor:
    t = c.allocate(shape, dtype, buffer, name, fill=value)
    if region(buffer).kind != "hbm":
        c.record(api, "gpsimd" if region(buffer).kind == "sbuf" else "vector")  # a memset instruction
    return t


def zeros(shape: Any, dtype: Any, buffer: Any = None, name: str = "") -> NkiTensor:
    return _filled("nl.zeros", shape, dtype, buffer, name, 0)


def ones(shape: Any, dtype: Any, buffer: Any = None, name: str = "") -> NkiTensor:
    return _filled("nl.ones", shape, dtype, buffer, name, 1)


def full(shape: Any, fill_value: Any, dtype: Any, buffer: Any = None, name: str = "") -> NkiTensor:
    return _filled("nl.full", shape, dtype, buffer, name, fill_value)


def _like(a: Any, api: str) -> NkiTensor:
    if not isinstance(a, NkiTensor):
        raise NkiValidationError(f"{api}: a must be an NKI tensor")
    return a


def empty_like(a: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> NkiTensor:
    t = _like(a, "nl.empty_like")
    return ndarray(t.shape, dtype or t.dtype, buffer if buffer is not None else t.buffer, name)


def ndarray_like(a: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> NkiTensor:
    return empty_like(a, dtype, buffer, name)


def zeros_like(a: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> NkiTensor:
    t = _like(a, "nl.zeros_like")
    return zeros(t.shape, dtype or t.dtype, buffer if buffer is not None else t.buffer, name)


def ones_like(a: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> NkiTensor:
    t = _like(a, "nl.ones_like")
    return ones(t.shape, dtype or t.dtype, buffer if buffer is not None else t.buffer, name)


def full_like(a: Any, fill_value: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> NkiTensor:
    t = _like(a, "nl.full_like")
    return full(t.shape, fill_value, dtype or t.dtype, buffer if buffer is not None else t.buffer, name)


def rand(shape: Any, dtype: Any, buffer: Any = None, name: str = "") -> NkiTensor:
    """Uniform [0, 1) values from the run's seeded generator (PORTER_NKI_SEED, default 0)."""
    from porter.nki import context

    t = c.allocate(shape, dtype, buffer, name)
    t._write(context.current().launch.rng.random(t.shape, dtype=np.float32))
    c.record("nl.rand", "gpsimd")
    return t


def shared_constant(constant: Any, dtype: Any = None) -> NkiTensor:
    """A constant tensor in (shared) HBM holding `constant` (array-like or NKI tensor)."""
    if isinstance(constant, NkiTensor):
        vals = constant._read_raw()
        dt = dtype or constant.dtype
    else:
        vals = np.asarray(constant)
        if dtype is None:
            raise NkiValidationError("nl.shared_constant: dtype must be specified")
        dt = dtype
    name = dtypes.normalize(dt, "nl.shared_constant")
    t = c.allocate(vals.shape, name, "private_hbm")
    t._write(dtypes.to_f32(vals) if vals.dtype.kind not in "iub" else vals)
    return t


def shared_identity_matrix(n: int, dtype: Any = "uint8") -> NkiTensor:
    return shared_constant(np.eye(int(n), dtype=np.float32), dtype)


__all__ = [
    _n
    for _n, _v in list(globals().items())
    if not _n.startswith("_")
    and not isinstance(_v, type(np))
    and (isinstance(_v, str) or getattr(_v, "__module__", None) == __name__)
]
