"""nki.language reductions (free axes only), softmax and rms_norm."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.api.language import _math as m
from porter.nki.api.language import _ops as ops
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor


def _axes(api: str, t: NkiTensor, axis: Any) -> tuple[int, ...]:
    if axis is None:
        raise NkiValidationError(f"{api}: axis is required (free axes only, e.g. axis=1 or axis=(1, 2))")
    raw = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in raw:
        a = int(a)
        if not -t.ndim <= a < t.ndim:
            raise NkiValidationError(f"{api}: axis {a} out of range for shape {t.shape}")
        a %= t.ndim
        if a == 0:
            raise NkiValidationError(f"{api}: cannot reduce the partition axis 0; only free axes can be reduced")
        out.append(a)
    return tuple(sorted(set(out)))


def _reduce(api: str, x: Any, axis: Any, dtype: Any, keepdims: bool, fn, default: str | None = None) -> NkiTensor:
    t = c.require_tensor(api, "x", x)
    if not t.onchip:
        raise NkiValidationError(f"{api}: x is in HBM; load it into SBUF first")
    axes = _axes(api, t, axis)
    with np.errstate(all="ignore"):
        vals = fn(t._read_f32(), axes)
    if keepdims:
        vals = np.expand_dims(vals, axes)
    out_dt = dtypes.normalize(dtype, "dtype") if dtype is not None else (default or t.dtype)
    c.record(api, "vector")
    out = c.allocate(vals.shape if vals.ndim else (1,), out_dt)
    out._write(vals)
    return out


def sum(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> NkiTensor:  # noqa: A001
    return _reduce("nl.sum", x, axis, dtype, keepdims, lambda v, a: np.sum(v, axis=a, dtype=np.float32))


def prod(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> NkiTensor:
    return _reduce("nl.prod", x, axis, dtype, keepdims, lambda v, a: np.prod(v, axis=a, dtype=np.float32))


def max(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> NkiTensor:  # noqa: A001
    return _reduce("nl.max", x, axis, dtype, keepdims, lambda v, a: np.max(v, axis=a))


def min(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> NkiTensor:  # noqa: A001
    return _reduce("nl.min", x, axis, dtype, keepdims, lambda v, a: np.min(v, axis=a))


def mean(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> NkiTensor:
    return _reduce("nl.mean", x, axis, dtype, keepdims, lambda v, a: np.mean(v, axis=a, dtype=np.float32))


def var(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> NkiTensor:
    return _reduce("nl.var", x, axis, dtype, keepdims, lambda v, a: np.var(v, axis=a, dtype=np.float32))


def all(x: Any, axis: Any, dtype: Any = bool, keepdims: bool = False) -> NkiTensor:  # noqa: A001
    return _reduce("nl.all", x, axis, dtype, keepdims, lambda v, a: np.all(v != 0, axis=a))


def any(x: Any, axis: Any, dtype: Any = bool, keepdims: bool = False) -> NkiTensor:  # noqa: A001
    return _reduce("nl.any", x, axis, dtype, keepdims, lambda v, a: np.any(v != 0, axis=a))


def argmax(x: Any, axis: Any, dtype: Any = "uint32", keepdims: bool = False) -> NkiTensor:
    def fn(v, a):
        if len(a) != 1:
            raise NkiValidationError("nl.argmax: exactly one axis")
        return np.argmax(v, axis=a[0])

    return _reduce("nl.argmax", x, axis, dtype, keepdims, fn)


# Reduction functions are accepted as nisa operators too (nisa.tensor_reduce(op=nl.max, ...)).
ops.ALIASES.update({sum: m.add, prod: m.multiply, max: m.maximum, min: m.minimum})


def _u(ufunc: Any, ident: Any) -> tuple:
    return (ufunc, lambda v, axis: ufunc.reduce(v, axis=axis), ident)


ops.REDUCE.update(
    {
        m.add: _u(np.add, 0.0),
        m.subtract: _u(np.add, 0.0),  # hardware subtract-reduce accumulates like add; documented
        m.multiply: _u(np.multiply, 1.0),
        m.maximum: _u(np.maximum, -np.inf),
        m.minimum: _u(np.minimum, np.inf),
        m.abs_max: (
            lambda a, b: np.maximum(np.abs(a), np.abs(b)),
            lambda v, axis: np.max(np.abs(v), axis=axis),
            0.0,
        ),
        m.abs_min: (
            lambda a, b: np.minimum(np.abs(a), np.abs(b)),
            lambda v, axis: np.min(np.abs(v), axis=axis),
            np.inf,
        ),
        m.bitwise_and: _u(np.bitwise_and, -1),
        m.bitwise_or: _u(np.bitwise_or, 0),
        m.bitwise_xor: _u(np.bitwise_xor, 0),
        m.logical_and: _u(np.logical_and, 1),
        m.logical_or: _u(np.logical_or, 0),
    }
)


def softmax(x: Any, axis: Any = -1, dtype: Any = None) -> NkiTensor:
    api = "nl.softmax"
    t = c.require_tensor(api, "x", x)
    if not t.onchip:
        raise NkiValidationError(f"{api}: x is in HBM; load it into SBUF first")
    axes = _axes(api, t, axis)
    v = t._read_f32()
    with np.errstate(all="ignore"):
        e = np.exp(v - np.max(v, axis=axes, keepdims=True))
        vals = e / np.sum(e, axis=axes, keepdims=True)
    c.record(api, "scalar")
    out = c.allocate(t.shape, dtypes.normalize(dtype, "dtype") if dtype is not None else t.dtype)
    out._write(vals)
    return out


def rms_norm(
    x: Any, w: Any, axis: Any, n: Any, epsilon: float = 1e-06, dtype: Any = None, compute_dtype: Any = None
) -> NkiTensor:
    """x * rsqrt(sum(x^2, axis) / n + epsilon) * w."""
    api = "nl.rms_norm"
    t = c.require_tensor(api, "x", x)
    if not t.onchip:
        raise NkiValidationError(f"{api}: x is in HBM; load it into SBUF first")
    axes = _axes(api, t, axis)
    v = t._read_f32()
    wv = w._read_f32() if isinstance(w, NkiTensor) else np.float32(w)
    with np.errstate(all="ignore"):
        ms = np.sum(v * v, axis=axes, keepdims=True, dtype=np.float32) / np.float32(n)
        vals = v / np.sqrt(ms + np.float32(epsilon)) * wv
    if compute_dtype is not None:
        vals = dtypes.to_f32(dtypes.cast(vals, dtypes.normalize(compute_dtype, "compute_dtype")))
    c.record(api, "vector")
    out = c.allocate(np.broadcast_shapes(t.shape, np.shape(wv)), dtypes.normalize(dtype, "dtype") if dtype else t.dtype)
    out._write(vals)
    return out
