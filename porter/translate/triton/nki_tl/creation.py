"""Tiles from values: a block, a Python scalar or a trace-time index array put on the on-chip grid of a shape
(``_materialize``), and ``tl.zeros`` / ``tl.full``."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

from porter.translate.triton.nki_tl.core import (
    _T,
    Unsupported,
    _as_grid,
    _dt,
    _f32,
    _is_float,
    _is_tile,
    _layout_of,
    _new,
    _tile_shape,
    float32,
)
from porter.translate.triton.nki_tl.tiles import _broadcast_partitions, _runs, _transpose_tile


def _fit(tile, shape, layout):
    """``tile`` broadcast to the on-chip grid of ``shape`` (a (P, 1) or (1, F) tile widened when needed)."""
    p, f = _tile_shape(shape)
    tp, tf = tile.shape[0], int(np.prod(tile.shape[1:]))
    if (tp, tf) == (p, f):
        return tile
    if tp == p and tf == 1:
        out = _new((p, f), tile.dtype if _is_float(tile.dtype) else nl.float32)
        nisa.memset(dst=out, value=0.0)
        nisa.tensor_scalar(dst=out, data=out, op0=nl.add, operand0=_f32(tile))
        return out
    if tp == 1 and tf == f:
        out = _new((p, f), nl.float32)
        _broadcast_partitions(out, tile)
        return out
    if tp == 1 and tf == 1:
        out = _new((p, f), nl.float32)
        wide = _new((1, f), nl.float32)
        nisa.memset(dst=wide, value=0.0)
        nisa.tensor_scalar(dst=wide, data=wide, op0=nl.add, operand0=_f32(tile))
        _broadcast_partitions(out, wide)
        return out
    if tf == 1 and tp == f and p == 1:  # a column of M values where a row of M is wanted
        return _transpose_tile(tile, tile.dtype if _is_float(tile.dtype) else nl.float32)
    if tp == 1 and tf == p and f == 1:
        return _transpose_tile(tile, tile.dtype if _is_float(tile.dtype) else nl.float32)
    raise Unsupported(f"broadcasting a {tile.shape} tile to {(p, f)}")


def _from_index(arr, shape, dtype):
    """A trace-time array as a tile: affine ones with iota, 0/1 masks with memsets of rectangles."""
    p, f = _tile_shape(shape)
    a = np.asarray(_as_grid(arr, shape))
    tile = _new((p, f), dtype)
    if a.dtype == bool:
        nisa.memset(dst=tile, value=0)
        for p0, np_, f0, nf, _, _, _ in _runs(np.zeros((p, f), dtype=np.int64), a):
            nisa.memset(dst=tile[p0:p0 + np_, f0:f0 + nf], value=1)
        return tile
    if a.dtype.kind == "f" and not np.all(a == np.round(a)):
        if np.all(a == a.flat[0]):
            nisa.memset(dst=tile, value=float(a.flat[0]))
            return tile
        raise Unsupported("a non-affine trace-time float array used as data")
    ai = a.astype(np.int64)
    c0 = int(ai[0, 0])
    cf = int(ai[0, 1] - ai[0, 0]) if f > 1 else 0
    cp = int(ai[1, 0] - ai[0, 0]) if p > 1 else 0
    expect = c0 + cp * np.arange(p).reshape(p, 1) + cf * np.arange(f).reshape(1, f)
    if not np.array_equal(expect, ai):
        return _from_rows(ai, p, f, cf, dtype)
    if cf == 0 and cp == 0:
        nisa.memset(dst=tile, value=c0 if not _is_float(dtype) else float(c0))
        return tile
    it = _new((p, f), nl.int32)
    nisa.iota(dst=it, pattern=[[cf, f]], offset=c0, channel_multiplier=cp)
    nisa.tensor_copy(dst=tile, src=it)
    return tile


def _from_rows(ai, p, f, cf, dtype):
    """An index array affine along the free dim with a step shared by every partition, each partition
    starting where it will (`cols` of a row split over two partitions, for several rows: 0, 4096, 0, 4096):
    an iota along the free dim plus a per-partition start. Anything else is refused."""
    starts = ai[:, 0]
    if not np.array_equal(ai, starts.reshape(p, 1) + cf * np.arange(f).reshape(1, f)):
        raise Unsupported("a non-affine index array used as data")
    it = _new((p, f), nl.int32)
    nisa.iota(dst=it, pattern=[[cf, f]], offset=0, channel_multiplier=0)
    start = _new((p, 1), nl.float32)
    for p0 in range(p):
        nisa.memset(dst=start[p0:p0 + 1, 0:1], value=float(starts[p0]))
    tile = _new((p, f), nl.float32)
    nisa.tensor_copy(dst=tile, src=it)
    nisa.tensor_scalar(dst=tile, data=tile, op0=nl.add, operand0=start)
    if _is_float(dtype) and dtype == nl.float32:
        return tile
    out = _new((p, f), dtype)
    nisa.tensor_copy(dst=out, src=tile)
    return out


def _materialize(x, shape, dtype):
    """An SBUF tile on the grid of ``shape`` holding ``x`` (a block, a Python scalar or a trace-time array)."""
    p, f = _tile_shape(shape)
    if _is_tile(x):
        return _fit(x.tile, shape, x.layout)
    if isinstance(x, np.ndarray):
        return _from_index(x, shape, dtype if not _is_float(dtype) or x.dtype != bool else nl.uint8)
    t = _new((p, f), dtype)
    nisa.memset(dst=t, value=float(x) if _is_float(dtype) else int(x))
    return t


def zeros(shape, dtype=float32):
    return full(shape, 0, dtype)


def full(shape, value, dtype=float32):
    dtype = _dt(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else [shape]))
    t = _new(_tile_shape(shape), dtype)
    nisa.memset(dst=t, value=float(value) if _is_float(dtype) else int(value))
    return _T(t, shape, dtype, _layout_of(shape))


def zeros_like(x):
    return zeros(x.shape, x.dtype)


def full_like(x, value):
    return full(x.shape, value, x.dtype)
