"""nki.language data movement and TensorE wrappers (experimental in NKI >= 0.3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.api.language import _ops as ops
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor


def _count_dma(src: NkiTensor, dst: NkiTensor) -> None:
    from porter.nki import context

    s = context.current().stats
    if src.kind == "hbm" and dst.kind == "hbm":
        s.hbm_to_hbm_bytes += src.size * dtypes.ITEMSIZE[src.dtype]
    elif src.kind == "hbm":
        s.hbm_to_sbuf_bytes += src.size * dtypes.ITEMSIZE[src.dtype]
    elif dst.kind == "hbm":
        s.sbuf_to_hbm_bytes += dst.size * dtypes.ITEMSIZE[dst.dtype]
    else:
        s.sbuf_to_sbuf_bytes += src.size * dtypes.ITEMSIZE[src.dtype]


def transfer(api: str, dst: NkiTensor, src: NkiTensor, oob_skip: bool = False) -> None:
    """DMA semantics: same element count; dtype change goes through fp32."""
    if src.size != dst.size:
        raise NkiValidationError(
            f"{api}: element count mismatch: src {src.shape} has {src.size}, dst {dst.shape} has {dst.size}"
        )
    if oob_skip and src._indirect:  # gather: out-of-range source elements leave dst unchanged
        raw, ok = src._read_raw_skip()
    else:
        raw, ok = src._read_raw(), None
    if src.dtype == dst.dtype:
        vals = raw.reshape(dst.shape)
    else:
        vals = dtypes.cast(dtypes.to_f32(raw).reshape(dst.shape), dst.dtype)
    if ok is not None and not ok.all():
        current = dst._read_raw_skip()[0] if dst._indirect else dst._read_raw()
        vals = np.where(ok.reshape(dst.shape), vals, current.reshape(dst.shape))
    dst._write_raw(vals, oob_skip=oob_skip)
    _count_dma(src, dst)


def load(src: Any, dtype: Any = None) -> NkiTensor:
    api = "nl.load"
    t = c.require_tensor(api, "src", src)
    if t.kind == "psum":
        raise NkiValidationError(f"{api}: src is in PSUM; DMA cannot read PSUM (use nl.copy / nisa.tensor_copy)")
    out = c.allocate(t.shape, dtype or t.dtype, "sbuf")
    c.record(api, "dma")
    transfer(api, out, t)
    return out


def store(dst: Any, value: Any) -> None:
    api = "nl.store"
    d = c.require_tensor(api, "dst", dst)
    if d.kind != "hbm":
        raise NkiValidationError(f"{api}: dst must be in HBM, got {d.kind.upper()}")
    if isinstance(value, NkiTensor):
        v = value
        if v.kind == "psum":  # an extra PSUM -> SBUF copy, as the compiler inserts one
            v = copy(v)
    else:
        v = c.allocate(d.shape, d.dtype, "sbuf", fill=value)
    if v.shape != d.shape and v.size != d.size:
        raise NkiValidationError(f"{api}: value shape {v.shape} does not match dst shape {d.shape}")
    c.record(api, "dma")
    transfer(api, d, v)


def copy(x: Any, dtype: Any = None) -> NkiTensor:
    api = "nl.copy"
    t = c.onchip_operand(api, "x", x)
    out = c.allocate(t.shape, dtype or t.dtype, "sbuf")
    c.record(api, "vector" if t.kind == "psum" else "gpsimd")
    if out.dtype == t.dtype:
        out._write_raw(t._read_raw())
    else:
        out._write(t._read_f32())
    return out


ops.UNARY[copy] = lambda x: x


def load_transpose2d(src: Any, dtype: Any = None) -> NkiTensor:
    api = "nl.load_transpose2d"
    t = c.require_tensor(api, "src", src)
    if t.ndim != 2:
        raise NkiValidationError(f"{api}: src must be 2-D, got shape {t.shape}")
    out = c.allocate((t.shape[1], t.shape[0]), dtype or t.dtype, "sbuf")
    c.record(api, "dma")
    transfer(api, out, t.permute((1, 0)) if t.kind == "hbm" else t)
    return out


def matmul(x: Any, y: Any, transpose_x: bool = False) -> NkiTensor:
    """x @ y (or x.T @ y with transpose_x=True), fp32 result in a new PSUM tile."""
    api = "nl.matmul"
    a = c.onchip_operand(api, "x", x, ("sbuf",))
    b = c.onchip_operand(api, "y", y, ("sbuf",))
    if a.ndim != 2 or b.ndim != 2:
        raise NkiValidationError(f"{api}: x and y must be 2-D tiles, got {a.shape} and {b.shape}")
    av = a._read_f32()
    stationary = av if transpose_x else av.T  # TensorE contracts over the partition dim
    if stationary.shape[0] != b.shape[0]:
        raise NkiValidationError(
            f"{api}: contraction sizes differ: x {a.shape}, y {b.shape}, transpose_x={transpose_x}"
        )
    k, mdim = stationary.shape
    if k > 128:
        raise NkiValidationError(f"{api}: contraction (partition) size {k} exceeds 128")
    if mdim > 128:
        raise NkiValidationError(f"{api}: stationary free size {mdim} exceeds 128")
    if b.shape[1] > 512:
        raise NkiValidationError(f"{api}: moving free size {b.shape[1]} exceeds 512")
    if not transpose_x:
        c.record("nl.matmul (transpose)", "tensor")
    c.record(api, "tensor")
    out = c.allocate((mdim, b.shape[1]), "float32", "psum")
    out._write(np.ascontiguousarray(stationary.T) @ np.ascontiguousarray(b._read_f32()))
    return out


def transpose(x: Any, dtype: Any = None) -> NkiTensor:
    api = "nl.transpose"
    t = c.onchip_operand(api, "x", x)
    if t.ndim != 2:
        raise NkiValidationError(f"{api}: x must be 2-D, got {t.shape}")
    if t.shape[1] > 128:
        raise NkiValidationError(f"{api}: free size {t.shape[1]} exceeds 128 (it becomes the partition dim)")
    out = c.allocate((t.shape[1], t.shape[0]), dtype or t.dtype, "psum")
    c.record(api, "tensor")
    out._write(t._read_f32().T if out.dtype != t.dtype else t._read_raw().T)
    return out


def gather_flattened(data: Any, indices: Any, axis: int = 0, dtype: Any = None) -> NkiTensor:
    """Per partition, gather from the flattened free dims of data using indices."""
    api = "nl.gather_flattened"
    d = c.onchip_operand(api, "data", data, ("sbuf",))
    i = c.onchip_operand(api, "indices", indices, ("sbuf",))
    if i.shape[0] != d.shape[0]:
        raise NkiValidationError(f"{api}: indices partition size {i.shape[0]} != data partition size {d.shape[0]}")
    p = d.shape[0]
    idx = i._read_raw().astype(np.int64).reshape(p, -1)
    flat = d._read_raw().reshape(p, -1)
    if idx.size and (idx.min() < 0 or idx.max() >= flat.shape[1]):
        raise NkiValidationError(f"{api}: index out of range [0, {flat.shape[1]})")
    out = c.allocate(i.shape, dtype or d.dtype)
    c.record(api, "gpsimd")
    vals = np.take_along_axis(flat, idx, axis=1).reshape(i.shape)
    if out.dtype == d.dtype:
        out._write_raw(vals)
    else:
        out._write(dtypes.to_f32(vals))
    return out
