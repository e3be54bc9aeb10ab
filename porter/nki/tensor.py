"""NkiTensor: a typed access pattern (offset + [stride, count] per dim) over one allocation.

Every view (indexing, slice/select/permute/reshape/broadcast, .ap) only changes the
access pattern; data is shared with the base allocation, as on hardware.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from porter.nki import dtypes
from porter.nki.errors import BLOCK_DIM_GUIDE, NkiValidationError
from porter.nki.memory import Allocation, note_access
from porter.nki.tensor_ops import TensorOperators
from porter.nki.tensor_views import TensorViews


class MemoryRegion:
    """A buffer kind handle: nl.sbuf, nl.psum, nl.hbm, nl.private_hbm, nl.shared_hbm."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind  # 'sbuf' | 'psum' | 'hbm'

    def __repr__(self) -> str:
        return f"nl.{self.name}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.name, self.kind)
        return isinstance(other, MemoryRegion) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


sbuf = MemoryRegion("sbuf", "sbuf")
psum = MemoryRegion("psum", "psum")
private_hbm = MemoryRegion("private_hbm", "hbm")
shared_hbm = MemoryRegion("shared_hbm", "hbm")
hbm = MemoryRegion("hbm", "hbm")
REGIONS = {r.name: r for r in (sbuf, psum, private_hbm, shared_hbm, hbm)}


def region(buffer: Any) -> MemoryRegion:
    if buffer is None:
        return sbuf
    if isinstance(buffer, MemoryRegion):
        return buffer
    if isinstance(buffer, str) and buffer in REGIONS:
        return REGIONS[buffer]
    raise NkiValidationError(f"unknown buffer {buffer!r}; use nl.sbuf, nl.psum, nl.hbm, nl.private_hbm, nl.shared_hbm")


class Shape(tuple):
    """A tensor shape: a tuple that also compares equal to a list (`x[1].shape == [2, 2]` as in the docs)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            other = tuple(other)
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__


def _row_major(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


class NkiTensor(TensorViews, TensorOperators):
    """NKI tensor handle.  `dtype` is the NKI dtype name, `buffer` the MemoryRegion."""

    __array_priority__ = 1000  # make `np_scalar + tile` call our reflected operators

    def __init__(
        self,
        alloc: Allocation,
        shape: tuple[int, ...],
        strides: tuple[int, ...] | None = None,
        offset: int = 0,
        buffer: MemoryRegion | None = None,
        indirect: tuple | None = None,
        dtype: str | None = None,
    ) -> None:
        # indirect: (mode, value, dim, stride, limit).  mode 'vector': per-partition offsets `value`
        # (an SBUF (P, 1) tensor) replace the index along `dim`; 'scalar': one runtime offset `value`
        # is added along `dim` (dim None: along a dimension removed by a dynamic select).  Offsets
        # scale by `stride` elements; `limit` (or None) is the valid offset range [0, limit).
        self._alloc = alloc
        self.shape = Shape(int(s) for s in shape)
        self._strides = tuple(strides) if strides is not None else _row_major(self.shape)
        self._offset = int(offset)
        self._buffer = buffer or {"sbuf": sbuf, "psum": psum, "hbm": hbm}[alloc.kind]
        self._indirect = indirect
        self._dtype = dtype or alloc.dtype
        if self.size and not indirect:
            last = self._offset + sum((n - 1) * s for n, s in zip(self.shape, self._strides, strict=False))
            if self._offset < 0 or last >= alloc.flat.size:
                raise NkiValidationError(
                    f"access pattern reaches element {last} outside the {alloc.flat.size}-element tensor"
                )

    # ---- metadata -------------------------------------------------------------------
    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def buffer(self) -> MemoryRegion:
        return self._buffer

    @property
    def kind(self) -> str:
        return self._alloc.kind

    @property
    def name(self) -> str:
        return self._alloc.name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def strides(self) -> tuple[int, ...]:
        return self._strides

    @property
    def onchip(self) -> bool:
        return self._alloc.kind in ("sbuf", "psum")

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"NkiTensor(shape={self.shape}, dtype={self.dtype}, buffer={self.buffer!r})"

    def _derive(self, shape, strides, offset, indirect=None, dtype=None) -> NkiTensor:
        return NkiTensor(self._alloc, shape, strides, offset, self._buffer, indirect, dtype or self._dtype)

    # ---- raw access -----------------------------------------------------------------
    def _np(self, flat: np.ndarray | None = None) -> np.ndarray:
        """Writable strided NumPy view of the storage (or of a parallel flat array)."""
        if self._indirect:
            raise NkiValidationError("indirect (.ap with scalar_offset/vector_offset) tensors only work in DMA ops")
        base = self._alloc.flat if flat is None else flat
        item = base.itemsize
        if self.size == 0:
            return np.empty(self.shape, dtype=base.dtype)
        # as_strided cannot build ml_dtypes arrays directly: stride an unsigned twin, then view back.
        raw = base.view(np.dtype(f"u{item}")) if base.dtype.kind not in "biu" else base
        view = as_strided(raw[self._offset :], self.shape, tuple(s * item for s in self._strides))
        return view if raw is base else view.view(base.dtype)

    def _flat_indices(self) -> np.ndarray:
        """Flat storage index of every element, resolving indirect offsets (-1 where out of range)."""
        ind = self._indirect
        idx = np.full(self.shape, self._offset, dtype=np.int64)
        for d, (n, s) in enumerate(zip(self.shape, self._strides, strict=False)):
            if ind and ind[0] == "vector" and d == ind[2]:
                continue
            shp = [1] * self.ndim
            shp[d] = n
            idx = idx + (np.arange(n, dtype=np.int64) * s).reshape(shp)
        if ind:
            mode, value, d, stride, limit = ind
            if mode == "vector":
                rows = np.asarray(value._read_raw(), dtype=np.int64).reshape(-1)
                n = self.shape[d]
                if rows.size < n:
                    raise NkiValidationError(f"vector_offset has {rows.size} entries but indirect dim {d} has {n}")
                rows = rows[:n]
                shp = [1] * self.ndim
                shp[d] = n
                idx = idx + (rows * stride).reshape(shp)
                if limit is not None:
                    idx = np.where(((rows < 0) | (rows >= limit)).reshape(shp), -1, idx)
            else:
                v = int(_scalar_value(value))
                idx = idx + v * stride
                if limit is not None and not 0 <= v < limit:
                    idx = np.full_like(idx, -1)
        return idx

    def _touch(self, write: bool = False) -> None:
        """An instruction accesses this tensor: extend the on-chip allocation's lifetime to now."""
        note_access(self._alloc.span, write)

    def _read_raw(self) -> np.ndarray:
        """Copy of the values in storage dtype; closes PSUM accumulation groups it touches."""
        self._touch()
        if self._indirect:
            idx = self._flat_indices()
            if idx.size and (idx.min() < 0 or idx.max() >= self._alloc.flat.size):
                raise NkiValidationError("indirect access out of bounds (oob_mode=error)")
            return self._alloc.flat[idx]
        out = np.array(self._np(), copy=True)
        if self._alloc.acc is not None:
            self._np(self._alloc.acc)[...] = False
        return out

    def _read_raw_skip(self) -> tuple[np.ndarray, np.ndarray]:
        """Indirect read with oob_mode=skip: the values (0 where skipped) and the in-range mask."""
        self._touch()
        idx = self._flat_indices() if self._indirect else None
        if idx is None:
            vals = self._read_raw()
            return vals, np.ones(vals.shape, dtype=bool)
        ok = (idx >= 0) & (idx < self._alloc.flat.size)
        vals = self._alloc.flat[np.where(ok, idx, 0)]
        return np.where(ok, vals, np.zeros((), vals.dtype)), ok

    def _read_f32(self) -> np.ndarray:
        return dtypes.to_f32(self._read_raw())

    def _write_raw(self, values: np.ndarray, oob_skip: bool = False) -> None:
        self._touch(write=True)
        self._alloc.dirty = True
        if self._indirect:
            idx = self._flat_indices()
            vals = np.broadcast_to(values, idx.shape)
            ok = (idx >= 0) & (idx < self._alloc.flat.size)
            if not ok.all():
                if not oob_skip:
                    raise NkiValidationError("indirect access out of bounds (oob_mode=error)")
                idx, vals = idx[ok], vals[ok]
            self._alloc.flat[idx] = vals
            return
        if any(s == 0 and n > 1 for n, s in zip(self.shape, self._strides, strict=False)):
            raise NkiValidationError("cannot write through a broadcast view (stride 0)")
        self._np()[...] = values
        if self._alloc.acc is not None:
            self._np(self._alloc.acc)[...] = False

    def _write(self, values: Any) -> None:
        """Cast (via the engine's fp32 result) to this tensor's dtype and store."""
        arr = np.asarray(values)
        if arr.shape != self.shape:
            arr = arr.reshape(self.shape) if arr.size == self.size else np.broadcast_to(arr, self.shape)
        self._write_raw(dtypes.cast(arr, self.dtype))

    # ---- indexing -------------------------------------------------------------------
    def __getitem__(self, key: Any) -> NkiTensor:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            fill = self.ndim - (len(key) - 1)
            key = key[:i] + (slice(None),) * fill + key[i + 1 :]
        if len(key) > self.ndim:
            raise IndexError(f"too many indices ({len(key)}) for a {self.ndim}-d tensor of shape {self.shape}")
        key = key + (slice(None),) * (self.ndim - len(key))
        shape, strides, offset = [], [], self._offset
        ind = self._indirect
        ind_dim = ind[2] if ind else None
        for d, (k, n, s) in enumerate(zip(key, self.shape, self._strides, strict=False)):
            if d == ind_dim:
                if not (isinstance(k, slice) and _check_slice(k, n, d) == (0, n, 1)):
                    raise NkiValidationError(
                        f"dim {d} takes part in the indirect addressing of this view and cannot be sliced or selected"
                    )
                ind = ind[:2] + (len(shape),) + ind[3:]
            if isinstance(k, NkiTensor):
                raise NkiValidationError("indexing with a tensor is not supported; use .ap(vector_offset=...)")
            if isinstance(k, slice):
                start, stop, step = _check_slice(k, n, d)
                count = len(range(start, stop, step))
                offset += start * s
                shape.append(count)
                strides.append(s * step)
            elif k is None:
                raise NkiValidationError("None/newaxis indexing is not supported; use .expand_dim(dim)")
            else:
                i = operator.index(_scalar_value(k))
                if i < -n or i >= n:
                    raise IndexError(f"index {i} is out of bounds for dim {d} of size {n}")
                if d == 0 and self.onchip:
                    raise NkiValidationError(
                        "cannot index away the partition dimension (dim 0) of an on-chip tensor; slice it instead. "
                        "If dim 0 was a block dimension (legacy neuronxcc.nki: dims in front of nl.par_dim), "
                        f"block dims were removed: use a list of tiles, see {BLOCK_DIM_GUIDE}"
                    )
                offset += (i % n) * s
        return self._derive(tuple(shape), tuple(strides), offset, ind)

    def __setitem__(self, key: Any, value: Any) -> None:
        """`tile[...] = value`: a copy (tile value) or fill (scalar) into the view."""
        view = self[key]
        if isinstance(value, NkiTensor):
            if value.dtype == view.dtype and value.size == view.size:
                view._write_raw(value._read_raw().reshape(view.shape))
            else:
                vals = value._read_f32()
                view._write(vals.reshape(view.shape) if vals.size == view.size else vals)
        else:
            view._write(np.asarray(_scalar_value(value)))


def _check_slice(k: slice, n: int, d: int) -> tuple[int, int, int]:
    step = 1 if k.step is None else operator.index(_scalar_value(k.step))
    if step <= 0:
        raise NkiValidationError(f"slice step must be positive, got {step} on dim {d}")
    start = 0 if k.start is None else operator.index(_scalar_value(k.start))
    stop = n if k.stop is None else operator.index(_scalar_value(k.stop))
    if start < 0:
        start += n
    if stop < 0:
        stop += n
    if start < 0 or start > n or stop > n:
        raise IndexError(f"slice {k.start}:{k.stop} is out of bounds for dim {d} of size {n}")
    return start, max(start, stop), step


def _scalar_value(v: Any) -> Any:
    """Python value of an int-like (VirtualRegister, 1-element tensor, numpy scalar)."""
    if hasattr(v, "_nki_scalar_value"):
        return v._nki_scalar_value()
    if isinstance(v, NkiTensor):
        if v.size != 1:
            raise NkiValidationError(f"expected a 1-element tensor as scalar, got shape {v.shape}")
        return v._read_raw().reshape(-1)[0].item()
    if isinstance(v, np.generic):
        return v.item()
    return v
