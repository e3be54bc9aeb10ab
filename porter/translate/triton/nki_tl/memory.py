"""Kernel pointers and ``tl.load`` / ``tl.store``: offsets and masks turned into as few rectangular DMA transfers
as the pattern allows."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

from porter.translate.triton.nki_tl.branches import store_predicate
from porter.translate.triton.nki_tl.core import (
    _T,
    Unsupported,
    _as_grid,
    _block_shape,
    _ctx,
    _is_float,
    _is_tile,
    _layout_of,
    _new,
    _tile_shape,
)
from porter.translate.triton.nki_tl.creation import _fit, _materialize
from porter.translate.triton.nki_tl.tiles import _broadcast_partitions, _runs


class _Ptr:
    """A base HBM tensor plus element offsets (a trace-time NumPy array or int)."""

    __array_ufunc__ = None  # `offs + x_ptr`: NumPy defers to __radd__ instead of adding per element

    def __init__(self, base, offsets):
        self.base = base
        self.offsets = offsets

    def __add__(self, o):
        if _is_tile(o):
            raise Unsupported("a pointer offset computed from loaded data (gather/scatter)")
        return _Ptr(self.base, self.offsets + np.asarray(o, dtype=np.int64) if isinstance(o, np.ndarray)
                    else self.offsets + int(o))

    __radd__ = __add__

    def __sub__(self, o):
        return self.__add__(-o)

    def __getitem__(self, idx):
        return _Ptr(self.base, np.asarray(self.offsets)[idx])

    @property
    def dtype(self):
        return _PtrType(self.base.dtype)


class _PtrType:
    def __init__(self, element_ty):
        self.element_ty = element_ty

def _valid(mask, shape, store=False):
    p, f = _tile_shape(shape)
    v = np.ones((p, f), dtype=bool) if mask is None else _as_grid(np.asarray(mask, dtype=bool), shape).copy()
    if _ctx.active is not None:
        v &= np.repeat(np.broadcast_to(_ctx.active, (_ctx.P, 1)), _ctx.k, axis=0) if _ctx.k > 1 else \
            np.broadcast_to(_ctx.active, (p, f))
    # a per-program scalar is stored once, from the program's first partition; a load gives every partition of
    # the program its value (a row's mean or rstd is needed by all of the row's partitions)
    if store and _ctx.k > 1 and not shape:
        v &= (np.arange(p) % _ctx.k == 0).reshape(p, 1)
    return v

def _hbm_view(base, start, ps, np_, fs, nf):
    return base.ap([[ps, np_], [fs, nf]], offset=start)

def _fill(tile, value, shape=None):
    if value is None:
        value = 0
    if isinstance(value, _T):  # `other=m`, a per-row value: its broadcast to the block, before the DMA
        if shape is None:
            raise Unsupported("a tensor as the `other=` of a masked load")
        nisa.tensor_copy(dst=tile, src=_materialize(value, shape, tile.dtype))
        return
    nisa.memset(dst=tile, value=float(value) if _is_float(tile.dtype) else int(value))

def load(pointer, mask=None, other=None, **_):
    """``tl.load``: masked lanes hold ``other`` (0 when not given)."""
    if not isinstance(pointer, _Ptr):
        raise Unsupported("tl.load of something that is not a kernel pointer argument plus offsets")
    shape = _block_shape(np.broadcast(np.asarray(pointer.offsets), np.asarray(True if mask is None else mask)))
    p, f = _tile_shape(shape)
    off = _as_grid(pointer.offsets, shape)
    valid = _valid(mask, shape)
    dtype = pointer.base.dtype
    tile = _new((p, f), dtype)
    if not valid.all():
        _fill(tile, other, shape)
    # every partition reads the same lanes: one row, broadcast (not when `other` differs per partition)
    uniform = p > 1 and (off == off[0:1]).all() and (valid == valid[0:1]).all() and not (
        isinstance(other, _T) and not valid.all())
    if uniform and valid[0].any():
        row = _new((1, f), dtype)
        if not valid[0].all():
            _fill(row, other)
        for _, _, f0, nf, start, _, fs in _runs(off[0:1], valid[0:1]):
            nisa.dma_copy(dst=row[0:1, f0:f0 + nf], src=_hbm_view(pointer.base, start, 1, 1, fs, nf))
        wide = _new((p, f), nl.float32)
        _broadcast_partitions(wide, row)
        nisa.tensor_copy(dst=tile, src=wide)
    else:
        for p0, np_, f0, nf, start, ps, fs in _runs(off, valid):
            nisa.dma_copy(dst=tile[p0:p0 + np_, f0:f0 + nf], src=_hbm_view(pointer.base, start, ps, np_, fs, nf))
    return _T(tile, shape, dtype, _layout_of(shape))


def store(pointer, value, mask=None, **_):
    """``tl.store``: only unmasked lanes are written; the value is cast to the pointer's element type."""
    if not isinstance(pointer, _Ptr):
        raise Unsupported("tl.store to something that is not a kernel pointer argument plus offsets")
    shape = _block_shape(np.broadcast(np.asarray(pointer.offsets), np.asarray(True if mask is None else mask)))
    p, f = _tile_shape(shape)
    off = _as_grid(pointer.offsets, shape)
    valid = _valid(mask, shape, store=True)
    if not valid.any():
        return
    src = _materialize(value, shape, pointer.base.dtype)
    if str(src.dtype) != str(pointer.base.dtype):
        t = _new((p, f), pointer.base.dtype)
        nisa.tensor_copy(dst=t, src=src)
        src = t
    runs = list(_runs(off, valid))
    predicate = store_predicate(shape)
    if predicate is not None:  # under a branch on loaded data: the other programs' lanes keep what they hold
        blended = _new((p, f), pointer.base.dtype)
        for p0, np_, f0, nf, start, ps, fs in runs:
            nisa.dma_copy(dst=blended[p0:p0 + np_, f0:f0 + nf], src=_hbm_view(pointer.base, start, ps, np_, fs, nf))
        wide = _fit(predicate, shape, _layout_of(shape))
        mask = _new((p, f), nl.uint8)
        nisa.tensor_copy(dst=mask, src=wide)
        nisa.tensor_copy_predicated(dst=blended, src=src, predicate=mask)
        src = blended
    for p0, np_, f0, nf, start, ps, fs in runs:
        nisa.dma_copy(dst=_hbm_view(pointer.base, start, ps, np_, fs, nf), src=src[p0:p0 + np_, f0:f0 + nf])
