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
from porter.nki.memory import Allocation


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


class NkiTensor:
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

    def _touch(self) -> None:
        """An instruction accesses this tensor: extend the on-chip allocation's lifetime to now."""
        span = self._alloc.span
        if span is not None:
            span.touch()

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
        self._touch()
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

    # ---- NkiTensor view API ---------------------------------------------------------
    def _dim(self, dim: int) -> int:
        if not -self.ndim <= dim < self.ndim:
            raise NkiValidationError(f"dim {dim} out of range for a {self.ndim}-d tensor")
        return dim % self.ndim

    def is_indirect(self) -> bool:
        """True if the view uses runtime (indirect) addressing: dynamic select, vector_select or .ap offsets."""
        return self._indirect is not None

    def slice(self, dim: int, start: int, end: int, step: int = 1) -> NkiTensor:
        d = self._dim(dim)
        key = [slice(None)] * self.ndim
        key[d] = slice(start, end, step)
        return self[tuple(key)]

    def select(self, dim: int, index: Any) -> NkiTensor:
        """Static select (int) or dynamic select (a 1-element tensor / register read at run time)."""
        d = self._dim(dim)
        if isinstance(index, NkiTensor) or hasattr(index, "_nki_scalar_value"):
            return self._dynamic_select(d, index)
        key = [slice(None)] * self.ndim
        key[d] = index
        return self[tuple(key)]

    def _dynamic_select(self, d: int, index: Any) -> NkiTensor:
        if self._indirect:
            raise NkiValidationError("select: only one dynamic select per tensor (this view is already indirect)")
        if self.onchip and d == 0:
            raise NkiValidationError("select: a dynamic select cannot index the partition dimension (dim 0)")
        if isinstance(index, NkiTensor) and index.size != 1:
            raise NkiValidationError(f"select: a dynamic index must be a 1-element tensor, got shape {index.shape}")
        ind = ("scalar", index, None, self._strides[d], self.shape[d])
        shape = self.shape[:d] + self.shape[d + 1 :]
        strides = self._strides[:d] + self._strides[d + 1 :]
        return self._derive(shape, strides, self._offset, ind)

    def vector_select(self, dim: int, vector_offset: Any) -> NkiTensor:
        """Partition i reads index vector_offset[i] of dim 0 (an HBM tensor); dim 0 becomes vector_offset's."""
        if self._dim(dim) != 0:
            raise NkiValidationError(f"vector_select: dim must be 0, got {dim}")
        if self.kind != "hbm":
            raise NkiValidationError(f"vector_select: only HBM tensors, this one is in {self.kind.upper()}")
        if self._indirect:
            raise NkiValidationError(
                "vector_select: only one dynamic select per tensor (this view is indirect already)"
            )
        if not isinstance(vector_offset, NkiTensor) or vector_offset.kind != "sbuf":
            raise NkiValidationError("vector_select: vector_offset must be an SBUF tensor of shape (P, 1)")
        p = vector_offset.shape[0]
        if vector_offset.size != p:
            raise NkiValidationError(f"vector_select: vector_offset must have shape (P, 1), got {vector_offset.shape}")
        if not dtypes.is_int(vector_offset.dtype):
            raise NkiValidationError(f"vector_select: vector_offset must hold integers, got {vector_offset.dtype}")
        ind = ("vector", vector_offset, 0, self._strides[0], self.shape[0])
        return self._derive((p,) + self.shape[1:], self._strides, self._offset, ind)

    def indirect(self, index: Any, num_elem: int | None = None) -> NkiTensor:
        from porter.nki.errors import unsupported

        raise unsupported(
            "NkiTensor.indirect",
            "Tensor Indirection (NeuronCore-v4) depends on the consuming engine's partition-group size "
            "and its element semantics are not documented precisely enough to simulate",
        )

    def _shape_op(self, op: str, fn: Any) -> NkiTensor:
        """Apply a shape-only view op to an indirect view; the indirect dim must come through unchanged."""
        mode, value, d, stride, limit = self._indirect
        if d is None:  # dynamic select: the remaining dims are an ordinary strided view
            proxy = NkiTensor(self._alloc, self.shape, self._strides, self._offset, self._buffer, None, self._dtype)
            res = fn(proxy)
            return res._derive(res.shape, res._strides, res._offset, self._indirect)
        if d != 0:
            raise NkiValidationError(f"{op}: only slicing and permute are simulated on a view indirect in dim {d}")
        # Collapse the indirect dim to one row, transform, then restore it (it must stay dim 0).
        proxy = NkiTensor(
            self._alloc, (1,) + self.shape[1:], self._strides, self._offset, self._buffer, ("proxy",), self._dtype
        )
        proxy._indirect = None
        res = fn(proxy)
        if res.ndim == 0 or res.shape[0] != 1 or res._strides[0] != self._strides[0]:
            raise NkiValidationError(f"{op}: the indirect dimension 0 of this view must stay first and unchanged")
        return res._derive((self.shape[0],) + res.shape[1:], res._strides, res._offset, self._indirect)

    def _from_np(self, arr: np.ndarray) -> NkiTensor:
        item = arr.itemsize
        base = self._alloc.flat.__array_interface__["data"][0]
        off = (arr.__array_interface__["data"][0] - base) // item if arr.size else self._offset
        return self._derive(arr.shape, tuple(s // item for s in arr.strides), off)

    def permute(self, dims: Any) -> NkiTensor:
        dims = tuple(self._dim(d) for d in dims)
        if sorted(dims) != list(range(self.ndim)):
            raise NkiValidationError(f"permute: {dims} is not a permutation of {self.ndim} dims")
        if self.onchip and dims[0] != 0:
            raise NkiValidationError("permute: the partition dimension (dim 0) of an on-chip tensor must stay first")
        ind = self._indirect
        if ind and ind[2] is not None:
            if ind[0] == "vector" and dims[0] != 0:
                raise NkiValidationError("permute: after vector_select the indirect dim 0 must stay first")
            ind = ind[:2] + (dims.index(ind[2]),) + ind[3:]
        shape = tuple(self.shape[d] for d in dims)
        return self._derive(shape, tuple(self._strides[d] for d in dims), self._offset, ind)

    def reshape(self, shape: Any) -> NkiTensor:
        shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            shape = tuple(self.size // known if s == -1 else s for s in shape)
        if math.prod(shape) != self.size:
            raise NkiValidationError(f"reshape: cannot reshape {self.shape} ({self.size} elements) to {shape}")
        if self.onchip and shape[0] != self.shape[0]:
            raise NkiValidationError(f"reshape: on-chip tensor partition dim must stay {self.shape[0]}, got {shape[0]}")
        if self._indirect:
            if self._indirect[2] is not None and shape[0] != self.shape[0]:
                raise NkiValidationError(f"reshape: the indirect dim 0 must stay {self.shape[0]}, got {shape[0]}")
            tail = shape if self._indirect[2] is None else (1,) + shape[1:]
            return self._shape_op("reshape", lambda t: t.reshape(tail))
        try:
            arr = np.reshape(self._np(), shape, copy=False)
        except ValueError as exc:
            raise NkiValidationError(f"reshape: {self.shape} -> {shape} needs a copy (view is not contiguous)") from exc
        return self._from_np(arr)

    def reshape_dim(self, dim: int, shape: Any) -> NkiTensor:
        d = self._dim(dim)
        shape = tuple(int(s) for s in shape)
        if shape.count(-1) == 1:
            known = math.prod(s for s in shape if s != -1)
            shape = tuple(self.shape[d] // known if s == -1 else s for s in shape)
        if math.prod(shape) != self.shape[d]:
            raise NkiValidationError(f"reshape_dim: {shape} does not split dim {d} of size {self.shape[d]}")
        return self.reshape(self.shape[:d] + shape + self.shape[d + 1 :])

    def flatten_dims(self, start_dim: int, end_dim: int) -> NkiTensor:
        a, b = self._dim(start_dim), self._dim(end_dim)
        return self.reshape(self.shape[:a] + (math.prod(self.shape[a : b + 1]),) + self.shape[b + 1 :])

    def expand_dim(self, dim: int) -> NkiTensor:
        d = dim % (self.ndim + 1)
        if self.onchip and d == 0:
            raise NkiValidationError("expand_dim: cannot insert a dim before the partition dim of an on-chip tensor")
        if self._indirect:
            return self._shape_op("expand_dim", lambda t: t.expand_dim(d))
        return self._derive(
            self.shape[:d] + (1,) + self.shape[d:], self._strides[:d] + (0,) + self._strides[d:], self._offset
        )

    def squeeze_dim(self, dim: int) -> NkiTensor:
        d = self._dim(dim)
        if self.shape[d] != 1:
            raise NkiValidationError(f"squeeze_dim: dim {d} has size {self.shape[d]}, not 1")
        if self._indirect:
            return self._shape_op("squeeze_dim", lambda t: t.squeeze_dim(d))
        return self._derive(
            self.shape[:d] + self.shape[d + 1 :], self._strides[:d] + self._strides[d + 1 :], self._offset
        )

    def broadcast(self, dim: int, size: int) -> NkiTensor:
        d = self._dim(dim)
        if self.shape[d] != 1:
            raise NkiValidationError(f"broadcast: dim {d} has size {self.shape[d]}; only size-1 dims broadcast")
        if self._indirect:
            return self._shape_op("broadcast", lambda t: t.broadcast(d, size))
        shape = list(self.shape)
        strides = list(self._strides)
        shape[d], strides[d] = int(size), 0
        return self._derive(tuple(shape), tuple(strides), self._offset)

    def rearrange(self, src_pattern: Any, dst_pattern: Any, fixed_sizes: dict[str, int] | None = None) -> NkiTensor:
        """einops-style split / reorder / merge of dims, e.g. (('b', ('h', 'w')), ('b', 'w', 'h'), {'h': 4})."""
        if self._indirect:
            return self._shape_op("rearrange", lambda t: t.rearrange(src_pattern, dst_pattern, fixed_sizes))

        def groups(pattern: Any, what: str) -> list[tuple[str, ...]]:
            out = []
            for g in pattern:
                names = (g,) if isinstance(g, str) else tuple(g)
                if not all(isinstance(n, str) for n in names):
                    raise NkiValidationError(f"rearrange: {what} entries must be names or tuples of names, got {g!r}")
                out.append(names)
            return out

        src, dst = groups(src_pattern, "src_pattern"), groups(dst_pattern, "dst_pattern")
        if len(src) != self.ndim:
            raise NkiValidationError(f"rearrange: src_pattern has {len(src)} dims, the tensor has {self.ndim}")
        names = [n for g in src for n in g]
        out_names = [n for g in dst for n in g]
        if len(set(names)) != len(names) or len(set(out_names)) != len(out_names):
            raise NkiValidationError("rearrange: a dimension name appears twice in a pattern")
        if set(names) != set(out_names):
            raise NkiValidationError(f"rearrange: src and dst patterns name different dims: {names} vs {out_names}")
        fixed = {k: int(v) for k, v in (fixed_sizes or {}).items() if int(v) != -1}
        size: dict[str, int] = {}
        stride: dict[str, int] = {}
        for g, n, st in zip(src, self.shape, self._strides, strict=True):
            unknown = [x for x in g if x not in fixed]
            known = math.prod(fixed[x] for x in g if x in fixed)
            if len(unknown) > 1:
                raise NkiValidationError(f"rearrange: cannot infer the sizes of {unknown}; give them in fixed_sizes")
            if unknown:
                if known == 0 or n % known:
                    raise NkiValidationError(f"rearrange: dim of size {n} does not split into {g}")
                fixed[unknown[0]] = n // known
            elif known != n:
                raise NkiValidationError(f"rearrange: {g} has size {known} but the dim has size {n}")
            inner = st
            for x in reversed(g):
                size[x], stride[x] = fixed[x], inner
                inner *= fixed[x]
        shape, strides = [], []
        for g in dst:
            real = [x for x in g if size[x] != 1]
            for a, b in zip(real, real[1:], strict=False):
                if stride[a] != stride[b] * size[b]:
                    raise NkiValidationError(f"rearrange: cannot merge {g}: not contiguous in memory (needs a copy)")
            shape.append(math.prod(size[x] for x in g))
            strides.append(stride[real[-1]] if real else 1)
        if self.onchip and (not shape or shape[0] != self.shape[0] or strides[0] != self._strides[0]):
            raise NkiValidationError("rearrange: the partition dimension (dim 0) of an on-chip tensor must stay first")
        return self._derive(tuple(shape), tuple(strides), self._offset)

    def view(self, dtype: Any) -> NkiTensor:
        """Reinterpret the bytes as another dtype; the last dim's count scales by the size ratio."""
        name = dtypes.normalize(dtype, "view")
        if self._indirect:
            raise NkiValidationError("view: not supported after a dynamic select / vector_select / indirect .ap")
        if name == self.dtype:
            return self
        old, new = dtypes.ITEMSIZE[self.dtype], dtypes.ITEMSIZE[name]
        store = dtypes.storage_type(name)
        if store.itemsize != new or self._alloc.flat.itemsize != old:
            raise NkiValidationError("view: reinterpreting bytes needs NKI_PRECISE_FP=1 storage")
        if old == new:
            alias = Allocation(
                self._alloc.kind, name, self._alloc.shape, self._alloc.data.view(store), self._alloc.name
            )
            alias.acc = self._alloc.acc
            t = NkiTensor(alias, self.shape, self._strides, self._offset, self._buffer)
        else:
            t = self._resized_view(name, store, old, new)
        t._alloc.span = self._alloc.span  # accesses through the alias keep the real allocation live
        t._base_alloc = self._alloc  # keep the real allocation (and its accounting) alive
        return t

    def _resized_view(self, name: str, store: np.dtype, old: int, new: int) -> NkiTensor:
        if self.ndim == 0 or (self.onchip and self.ndim < 2):
            raise NkiValidationError("view: changing the element size needs a free dimension to scale")
        if self.shape[-1] != 1 and self._strides[-1] != 1:
            raise NkiValidationError("view: the last dimension must be contiguous in memory")
        if self.kind == "psum":
            from porter.nki.errors import unsupported

            raise unsupported("view of a PSUM tensor with a different element size")

        def scale(v: int, what: str) -> int:
            if (v * old) % new:
                raise NkiValidationError(
                    f"view: {self.dtype} -> {name}: the {what} ({v} elements) is not a whole number of {name}"
                )
            return v * old // new

        flat = self._alloc.flat
        if flat.size * old % new:
            raise NkiValidationError(f"view: the tensor's {flat.size * old} bytes are not a whole number of {name}")
        alias = Allocation(self._alloc.kind, name, (flat.size * old // new,), flat.view(store), self._alloc.name)
        shape = self.shape[:-1] + (scale(self.shape[-1], "last dimension"),)
        strides = tuple(scale(s, "stride") for s in self._strides[:-1]) + (1,)
        return NkiTensor(alias, shape, strides, scale(self._offset, "offset"), self._buffer)

    @property
    def reinterpret_cast(self) -> Any:
        """Alias of view(dtype): `t.reinterpret_cast(nl.uint8)`."""
        return self.view

    def get_pattern(self) -> list[list[int]]:
        return [[s, n] for s, n in zip(self._strides, self.shape, strict=False)]

    def is_contiguous(self) -> bool:
        """Row-major over the free dims (on-chip) or all dims (HBM); size-1 dims are ignored."""
        first = 1 if self.onchip else 0
        expect = 1
        for n, st in reversed(list(zip(self.shape[first:], self._strides[first:], strict=True))):
            if n != 1 and st != expect:
                return False
            expect *= n
        return True

    def ap(
        self,
        pattern: Any,
        offset: int | None = None,
        scalar_offset: Any = None,
        vector_offset: Any = None,
        indirect_dim: int = 0,
        dtype: Any = None,
    ) -> NkiTensor:
        """Raw access pattern [[stride, count], ...] relative to this view's start element."""
        pairs = [tuple(int(_scalar_value(v)) for v in p) for p in pattern]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise NkiValidationError(f"ap: pattern must be a list of [stride, count] pairs, got {pattern!r}")
        if scalar_offset is not None and vector_offset is not None:
            raise NkiValidationError("ap: scalar_offset and vector_offset are mutually exclusive")
        if self._indirect:
            raise NkiValidationError("ap: this view is already indirect; indirect views cannot be re-indirected")
        strides = tuple(p[0] for p in pairs)
        shape = tuple(p[1] for p in pairs)
        indirect = None
        if scalar_offset is not None or vector_offset is not None:
            d = int(indirect_dim)
            if not 0 <= d < len(pairs):
                raise NkiValidationError(f"ap: indirect_dim {d} is outside the {len(pairs)}-dim pattern")
            if vector_offset is not None:
                if not isinstance(vector_offset, NkiTensor) or vector_offset.kind != "sbuf":
                    raise NkiValidationError("ap: vector_offset must be an SBUF tensor of shape (P, 1)")
                if self.kind != "hbm":
                    raise NkiValidationError("ap: vector_offset indirection needs the indexed tensor in HBM")
                indirect = ("vector", vector_offset, d, strides[d], None)
            else:
                indirect = ("scalar", scalar_offset, d, strides[d], None)
        new_dtype = dtypes.normalize(dtype, "ap") if dtype is not None else None
        t = self if new_dtype is None else self.view(new_dtype)
        start = t._offset if t is not self else self._offset
        return t._derive(shape, strides, start + int(offset or 0), indirect)

    # ---- Python operators (defined in the language module) ------------------------------
    def _binop(name: str, reflected: bool = False):  # noqa: N805 - factory used at class creation
        def fn(self, other):
            from porter.nki.api.language import _math as m

            f = getattr(m, name)
            return f(other, self) if reflected else f(self, other)

        return fn

    def _inplace(name: str):  # noqa: N805
        def fn(self, other):
            from porter.nki.api.language import _math as m

            m._inplace(getattr(m, name), self, other)
            return self

        return fn

    __add__ = _binop("add")
    __radd__ = _binop("add", True)
    __sub__ = _binop("subtract")
    __rsub__ = _binop("subtract", True)
    __mul__ = _binop("multiply")
    __rmul__ = _binop("multiply", True)
    __truediv__ = _binop("divide")
    __rtruediv__ = _binop("divide", True)
    __pow__ = _binop("power")
    __rpow__ = _binop("power", True)
    __mod__ = _binop("fmod")
    __lt__ = _binop("less")
    __le__ = _binop("less_equal")
    __gt__ = _binop("greater")
    __ge__ = _binop("greater_equal")
    __and__ = _binop("bitwise_and")
    __or__ = _binop("bitwise_or")
    __xor__ = _binop("bitwise_xor")
    __lshift__ = _binop("left_shift")
    __rshift__ = _binop("right_shift")
    __iadd__ = _inplace("add")
    __isub__ = _inplace("subtract")
    __imul__ = _inplace("multiply")
    __itruediv__ = _inplace("divide")
    del _binop, _inplace

    def __eq__(self, other):  # type: ignore[override]
        from porter.nki.api.language import _math as m

        return m.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        from porter.nki.api.language import _math as m

        return m.not_equal(self, other)

    __hash__ = object.__hash__

    def __neg__(self):
        from porter.nki.api.language import _math as m

        return m.negative(self)

    def __abs__(self):
        from porter.nki.api.language import _math as m

        return m.abs(self)

    def __invert__(self):
        from porter.nki.api.language import _math as m

        return m.invert(self)

    def __bool__(self) -> bool:
        raise NkiValidationError("the truth value of an NKI tensor is not defined at trace time")

    def broadcast_to(self, shape: Any) -> NkiTensor:
        from porter.nki.api.language import _math as m

        return m.broadcast_to(self, shape)


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
