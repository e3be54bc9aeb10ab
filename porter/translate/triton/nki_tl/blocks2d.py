"""Two-dimensional blocks (program mode): ``tl.dot`` on the Tensor Engine, ``tl.trans``, ``[:, None]`` indexing,
``tl.reshape``, ``tl.broadcast_to`` and ``tl.expand_dims``."""

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
    _is_tile,
    _layout_of,
    _new,
    float32,
)
from porter.translate.triton.nki_tl.creation import _fit
from porter.translate.triton.nki_tl.elementwise import cast
from porter.translate.triton.nki_tl.tiles import _transpose_tile


def trans(x, *dims):
    if not _is_tile(x):
        return np.asarray(x).T
    if len(x.shape) == 2:
        return _T(_transpose_tile(x.tile), (x.shape[1], x.shape[0]), x.dtype, "2d")
    return x


def _index(x, idx):
    if not isinstance(idx, tuple):
        idx = (idx,)
    if _ctx.mode == "rows":
        raise Unsupported("indexing a block with [:, None] / [None, :] in a one-program-per-partition kernel")
    if len(x.shape) == 1 and len(idx) == 2:
        if idx[0] is None:  # [None, :] -> (1, N)
            tile = x.tile if x.layout == "row" else _transpose_tile(x.tile, x.dtype)
            return _T(tile, (1, x.shape[0]), x.dtype, "2d")
        if idx[1] is None:  # [:, None] -> (N, 1)
            tile = x.tile if x.layout == "col" else _transpose_tile(x.tile, x.dtype)
            return _T(tile, (x.shape[0], 1), x.dtype, "2d")
    raise Unsupported(f"indexing a block with {idx!r}")


def dot(a, b, acc=None, out_dtype=float32, **_):
    """``tl.dot``: (M, K) @ (K, N) on the Tensor Engine, fp32 accumulation in PSUM, K in steps of 128."""
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise Unsupported("tl.dot of blocks that are not two-dimensional")
    m, k = a.shape
    n = b.shape[1]
    res = _new((m, n), nl.float32)
    for n0 in _b.range(0, n, PSUM_FMAX):
        ns = _b.min(PSUM_FMAX, n - n0)
        ps = nl.ndarray((m, ns), dtype=nl.float32, buffer=nl.psum)
        steps = list(_b.range(0, k, PMAX))
        for i, k0 in enumerate(steps):
            ks = _b.min(PMAX, k - k0)
            at = _transpose_tile(a.tile[0:m, k0:k0 + ks], a.dtype)
            nisa.nc_matmul(dst=ps, stationary=at, moving=b.tile[k0:k0 + ks, n0:n0 + ns], accumulate=i > 0)
        nisa.tensor_copy(dst=res[0:m, n0:n0 + ns], src=ps)
    out = _T(res, (m, n), nl.float32, "2d")
    if acc is not None:
        out = acc + out
    return out if str(out_dtype) == "float32" else cast(out, out_dtype)


def reshape(x, shape, **_):
    if not _is_tile(x):
        return np.reshape(x, shape)
    shape = tuple(int(s) for s in shape)
    if tuple(int(s) for s in x.shape if s != 1) == tuple(s for s in shape if s != 1):
        return _T(x.tile, shape, x.dtype, x.layout if len(shape) == len(x.shape) else _layout_of(shape))
    raise Unsupported("tl.reshape that moves data between partitions")


def broadcast_to(x, shape):
    shape = tuple(int(s) for s in shape)
    if not _is_tile(x):
        return np.broadcast_to(x, shape)
    return _T(_fit(x.tile, shape, x.layout), shape, x.dtype, _layout_of(shape))


def expand_dims(x, axis):
    if not _is_tile(x):
        return np.expand_dims(x, axis)
    idx = [slice(None)] * len(x.shape)
    idx.insert(int(axis), None)
    return _index(x, tuple(idx))
