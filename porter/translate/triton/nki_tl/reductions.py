"""Reductions: ``tl.sum`` / ``tl.max`` / ``tl.min`` along the free axis (or over partitions), ``tl.argmax`` /
``tl.argmin`` and ``tl.cumsum``; a block split over several partitions per program is combined by matmuls."""

import builtins as _b

import nki.isa as nisa
import nki.language as nl
import numpy as np

from porter.translate.triton.nki_tl.core import (
    _T,
    PMAX,
    PSUM_FMAX,
    Unsupported,
    _ctx,
    _f32,
    _is_float,
    _is_tile,
    _layout_of,
    _new,
)
from porter.translate.triton.nki_tl.elementwise import _opname
from porter.translate.triton.nki_tl.tiles import _transpose_tile


def _free_axis(x, axis):
    if axis is None:
        if _ctx.mode == "rows" or len(x.shape) <= 1:
            return None
        raise Unsupported("tl.cumsum, tl.argmax or tl.argmin over every axis of a two-dimensional block")
    return int(axis) % _b.max(1, len(x.shape))


def _reduced_shape(x, axis, keep_dims):
    if axis is None or len(x.shape) <= 1:
        return (1,) * len(x.shape) if keep_dims else ()
    return (x.shape[0], 1) if keep_dims else (x.shape[0],)


def _partition_reduce(op, x, keep_dims):
    """Reduce a (P, F) block over its rows: sums on the Tensor Engine (ones.T @ x), max/min via a transpose."""
    p, f = x.tile.shape[0], int(np.prod(x.tile.shape[1:]))
    shape = (1, f) if keep_dims else (f,)
    if _opname(op) == "add":
        src = _f32(x.tile)
        ones = _new((p, 1), nl.float32)
        nisa.memset(dst=ones, value=1.0)
        out = _new((1, f), nl.float32)
        for f0 in _b.range(0, f, PSUM_FMAX):
            fs = _b.min(PSUM_FMAX, f - f0)
            ps = nl.ndarray((1, fs), dtype=nl.float32, buffer=nl.psum)
            nisa.nc_matmul(dst=ps, stationary=ones, moving=src[0:p, f0:f0 + fs], accumulate=False)
            nisa.tensor_copy(dst=out[0:1, f0:f0 + fs], src=ps)
        return _T(out, shape, nl.float32, "2d" if keep_dims else "row")
    if f > PMAX:
        raise Unsupported(f"tl.max/tl.min over the rows of a block {f} columns wide (at most {PMAX})")
    t = _transpose_tile(x.tile, nl.float32)
    col = _new((f, 1), nl.float32)
    nisa.tensor_reduce(dst=col, op=op, data=t, axis=1, keepdims=True)
    return _T(_transpose_tile(col, nl.float32), shape, nl.float32, "2d" if keep_dims else "row")


def _selection(j):
    """(P*k, P*k) fp32 constant: column m picks partition (m // k) * k + j (j = -1: sums its whole group)."""
    key = ("sel", j)
    if key not in _ctx.consts:
        k, n = _ctx.k, _ctx.P * _ctx.k
        t = _new((n, n), nl.float32)
        nisa.memset(dst=t, value=0.0)
        for g in _b.range(_ctx.P):
            if j < 0:
                nisa.memset(dst=t[g * k:(g + 1) * k, g * k:(g + 1) * k], value=1.0)
            else:
                nisa.memset(dst=t[g * k + j:g * k + j + 1, g * k:(g + 1) * k], value=1.0)
        _ctx.consts[key] = t
    return _ctx.consts[key]


def _group_combine(op, part):
    """Combine the (P*k, 1) partial reductions of each program's k partitions; every partition gets the result.

    Sums: one matmul with a block-diagonal ones matrix. Max/min: one selection matmul per partition of the group
    (exact: one 1.0 x value product each), values clamped to the finite fp32 range first so 0 x inf never
    appears in the Tensor Engine."""
    n = part.shape[0]
    name = _opname(op)
    if name not in ("add", "maximum", "minimum"):
        raise Unsupported(f"a {name} reduction over a block split across partitions")
    src = part
    if name != "add":
        src = _new((n, 1), nl.float32)
        nisa.tensor_scalar(dst=src, data=part, op0=nl.maximum, operand0=-3.0e38, op1=nl.minimum, operand1=3.0e38)
    out = None
    for j in ([-1] if name == "add" else list(_b.range(_ctx.k))):
        ps = nl.ndarray((n, 1), dtype=nl.float32, buffer=nl.psum)
        nisa.nc_matmul(dst=ps, stationary=_selection(j), moving=src, accumulate=False)
        cur = _new((n, 1), nl.float32)
        nisa.tensor_copy(dst=cur, src=ps)
        if out is None:
            out = cur
        else:
            nxt = _new((n, 1), nl.float32)
            nisa.tensor_tensor(dst=nxt, data1=out, data2=cur, op=op)
            out = nxt
    return out


def _reduce(op, x, axis=None, keep_dims=False):
    if not _is_tile(x):
        return {"add": np.sum, "maximum": np.max, "minimum": np.min}[_opname(op)](x)
    if axis is None and _ctx.mode == "program" and len(x.shape) == 2:
        # every axis of a 2-D block (rows on the partitions): along the free axis, then over the partitions
        per_row = _reduce(op, x, 1, keep_dims=True)
        whole = _partition_reduce(op, per_row, keep_dims=True)
        dtype = x.dtype if _is_float(x.dtype) else nl.float32
        out = whole.tile
        if dtype != nl.float32:
            out = _new((1, 1), dtype)
            nisa.tensor_copy(dst=out, src=whole.tile)
        return _T(out, (1, 1) if keep_dims else (), dtype, "2d" if keep_dims else "scalar")
    if _free_axis(x, axis) == 0 and _ctx.mode == "program" and len(x.shape) == 2:
        return _partition_reduce(op, x, keep_dims)
    p = x.tile.shape[0]
    dtype = x.dtype if _is_float(x.dtype) else nl.float32
    dst = _new((p, 1), dtype if _ctx.k == 1 else nl.float32)
    nisa.tensor_reduce(dst=dst, op=op, data=x.tile, axis=1, keepdims=True)
    if _ctx.mode == "rows" and _ctx.k > 1:
        dst = _group_combine(op, dst)
    shape = _reduced_shape(x, axis, keep_dims)
    layout = "col" if (_ctx.mode == "program" and len(x.shape) == 2) else _layout_of(shape)
    return _T(dst, shape, dtype, layout)


def sum(x, axis=None, keep_dims=False, **_):  # noqa: A001 - tl.sum
    return _reduce(nl.add, x, axis, keep_dims)


def max(x, axis=None, keep_dims=False, **_):  # noqa: A001 - tl.max
    return _reduce(nl.maximum, x, axis, keep_dims)


def min(x, axis=None, keep_dims=False, **_):  # noqa: A001 - tl.min
    return _reduce(nl.minimum, x, axis, keep_dims)


def _arg_extreme(x, axis, keep_dims, want_max):
    if _ctx.mode == "rows" and _ctx.k > 1:
        raise Unsupported("tl.argmax/tl.argmin over a block split across partitions")
    _free_axis(x, axis)  # the flat index over a whole 2-D block is not translated
    m = max(x, axis, True) if want_max else min(x, axis, True)
    hit = x == m
    p, f = x.tile.shape[0], int(np.prod(x.tile.shape[1:]))
    idx = _new((p, f), nl.float32)
    it = _new((p, f), nl.int32)
    nisa.iota(dst=it, pattern=[[1, f]], offset=0, channel_multiplier=0)
    nisa.tensor_copy(dst=idx, src=it)
    big = _new((p, f), nl.float32)
    nisa.memset(dst=big, value=float(f))
    nisa.tensor_copy_predicated(dst=big, src=idx, predicate=hit.tile)
    first = _new((p, 1), nl.float32)
    nisa.tensor_reduce(dst=first, op=nl.minimum, data=big, axis=1, keepdims=True)
    out = _new((p, 1), nl.int32)
    nisa.tensor_copy(dst=out, src=first)
    shape = _reduced_shape(x, axis, keep_dims)
    return _T(out, shape, nl.int32, "col" if (_ctx.mode == "program" and len(x.shape) == 2) else _layout_of(shape))


def argmax(x, axis=None, keep_dims=False, **_):
    return _arg_extreme(x, axis, keep_dims, True)


def argmin(x, axis=None, keep_dims=False, **_):
    return _arg_extreme(x, axis, keep_dims, False)


def cumsum(x, axis=0, reverse=False, **_):
    if not _is_tile(x):
        return np.cumsum(x, axis=-1)
    if _ctx.mode == "rows" and _ctx.k > 1:
        raise Unsupported("tl.cumsum over a block split across partitions")
    _free_axis(x, axis)
    p, f = x.tile.shape[0], int(np.prod(x.tile.shape[1:]))
    dtype = x.dtype if _is_float(x.dtype) else nl.float32
    ones = _new((p, f), nl.float32)
    nisa.memset(dst=ones, value=1.0)
    dst = _new((p, f), dtype)
    nisa.tensor_tensor_scan(dst=dst, data0=ones, data1=x.tile, initial=0.0, op0=nl.multiply, op1=nl.add,
                            reverse0=False, reverse1=False)
    if reverse:
        raise Unsupported("tl.cumsum(reverse=True)")
    return _T(dst, x.shape, dtype, x.layout)
