"""The NkiTensor view API: slice, select, permute, reshape, broadcast, rearrange, view, .ap, indirection.

Each method only builds a new access pattern over the same allocation; the storage and indexing
core lives in porter.nki.tensor.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from porter.nki import dtypes
from porter.nki.errors import NkiValidationError, unsupported
from porter.nki.memory import Allocation

if TYPE_CHECKING:
    from porter.nki.tensor import NkiTensor


def _scalar_value(v: Any) -> Any:
    from porter.nki.tensor import _scalar_value as value

    return value(v)


def _row_major(shape: tuple[int, ...]) -> tuple[int, ...]:
    from porter.nki.tensor import _row_major as strides

    return strides(shape)


class TensorViews:
    """Mixin of NkiTensor: every view shares data with the base allocation."""

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
        if isinstance(index, TensorViews) or hasattr(index, "_nki_scalar_value"):
            return self._dynamic_select(d, index)
        key = [slice(None)] * self.ndim
        key[d] = index
        return self[tuple(key)]

    def _dynamic_select(self, d: int, index: Any) -> NkiTensor:
        if self._indirect:
            raise NkiValidationError("select: only one dynamic select per tensor (this view is already indirect)")
        if self.onchip and d == 0:
            raise NkiValidationError("select: a dynamic select cannot index the partition dimension (dim 0)")
        if isinstance(index, TensorViews) and index.size != 1:
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
        if not isinstance(vector_offset, TensorViews) or vector_offset.kind != "sbuf":
            raise NkiValidationError("vector_select: vector_offset must be an SBUF tensor of shape (P, 1)")
        p = vector_offset.shape[0]
        if vector_offset.size != p:
            raise NkiValidationError(f"vector_select: vector_offset must have shape (P, 1), got {vector_offset.shape}")
        if not dtypes.is_int(vector_offset.dtype):
            raise NkiValidationError(f"vector_select: vector_offset must hold integers, got {vector_offset.dtype}")
        ind = ("vector", vector_offset, 0, self._strides[0], self.shape[0])
        return self._derive((p,) + self.shape[1:], self._strides, self._offset, ind)

    def indirect(self, index: Any, num_elem: int | None = None) -> NkiTensor:

        raise unsupported(
            "NkiTensor.indirect",
            "Tensor Indirection (NeuronCore-v4) depends on the consuming engine's partition-group size "
            "and its element semantics are not documented precisely enough to simulate",
        )

    def _shape_op(self, op: str, fn: Any) -> NkiTensor:
        """Apply a shape-only view op to an indirect view; the indirect dim must come through unchanged."""
        mode, value, d, stride, limit = self._indirect
        if d is None:  # dynamic select: the remaining dims are an ordinary strided view
            proxy = type(self)(self._alloc, self.shape, self._strides, self._offset, self._buffer, None, self._dtype)
            res = fn(proxy)
            return res._derive(res.shape, res._strides, res._offset, self._indirect)
        if d != 0:
            raise NkiValidationError(f"{op}: only slicing and permute are simulated on a view indirect in dim {d}")
        # Collapse the indirect dim to one row, transform, then restore it (it must stay dim 0).
        proxy = type(self)(
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
            t = type(self)(alias, self.shape, self._strides, self._offset, self._buffer)
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
        return type(self)(alias, shape, strides, scale(self._offset, "offset"), self._buffer)

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
                if not isinstance(vector_offset, TensorViews) or vector_offset.kind != "sbuf":
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

