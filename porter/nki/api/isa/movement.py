"""Data movement and constant generation: DMA, tensor_copy, memset, iota, gathers, shuffles."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.api.isa.enums import dge_mode as _dge
from porter.nki.api.isa.enums import engine as _engine
from porter.nki.api.isa.enums import oob_mode as _oob
from porter.nki.api.language._movement import transfer
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor


def _dma_operand(api: str, what: str, t: Any) -> NkiTensor:
    t = c.require_tensor(api, what, t)
    if t.kind == "psum":
        raise NkiValidationError(
            f"{api}: {what} is in PSUM; DMA cannot access PSUM (copy it to SBUF with nisa.tensor_copy first)"
        )
    return t


def dma_copy(
    dst: Any,
    src: Any,
    priority: Any = None,
    oob_mode: Any = _oob.error,
    dge_mode: Any = _dge.unknown,
    engine: Any = _engine.unknown,
    name: str | None = None,
) -> None:
    """dst = src between HBM and SBUF; a dtype change goes src -> fp32 -> dst."""
    api = "dma_copy"
    s = _dma_operand(api, "src", src)
    d = _dma_operand(api, "dst", dst)
    mode = getattr(dge_mode, "name", dge_mode)
    eng = c.engine_name(engine)
    if mode == "hwdge":
        c.require_version(f"{api}: dge_mode=hwdge", 3)
    if eng != "unknown":
        if mode != "hwdge":
            raise NkiValidationError(f"{api}: engine is only valid with dge_mode=hwdge")
        if eng not in ("sync", "scalar"):
            raise NkiValidationError(f"{api}: engine must be sync or scalar for hwdge, got {eng}")
    if priority is not None:
        c.require_version(f"{api}: priority", 4)
        if not 0 <= int(priority) <= 3:
            raise NkiValidationError(f"{api}: priority must be 0-3, got {priority}")
        if mode == "none":
            raise NkiValidationError(f"{api}: priority is not supported with dge_mode=none")
    for what, t in (("src", s), ("dst", d)):
        if t.onchip:
            c.check_partition(api, what, t)
    skip = getattr(oob_mode, "name", oob_mode) == "skip"
    if skip and not (s._indirect or d._indirect):
        raise NkiValidationError(f"{api}: oob_mode=skip is only valid with indirect access")
    c.record(api, "dma")
    transfer(api, d, s, oob_skip=skip)


def dma_transpose(
    dst: Any,
    src: Any,
    axes: Any = None,
    priority: Any = None,
    dge_mode: Any = _dge.unknown,
    oob_mode: Any = _oob.error,
    name: str | None = None,
) -> None:
    """Transpose with the DMA engine: 2-D (1, 0), 3-D (2, 1, 0), 4-D (3, 1, 2, 0)."""
    api = "dma_transpose"
    s = _dma_operand(api, "src", src)
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    default = {2: (1, 0), 3: (2, 1, 0), 4: (3, 1, 2, 0)}
    if s.ndim not in default:
        raise NkiValidationError(f"{api}: src must be 2-D, 3-D or 4-D, got {s.shape}")
    perm = tuple(axes) if axes is not None else default[s.ndim]
    if perm != default[s.ndim]:
        raise NkiValidationError(f"{api}: axes {perm} not supported; for {s.ndim}-D use {default[s.ndim]}")
    if s.dtype != d.dtype:
        raise NkiValidationError(f"{api}: src dtype {s.dtype} must equal dst dtype {d.dtype}")
    if dtypes.ITEMSIZE[s.dtype] != 2:
        raise NkiValidationError(f"{api}: src dtype must be 2 bytes, got {s.dtype}")
    vals = np.transpose(s._read_raw(), perm)
    if vals.size != d.size:
        raise NkiValidationError(f"{api}: dst shape {d.shape} does not hold transposed src {vals.shape}")
    c.record(api, "dma")
    d._write_raw(vals.reshape(d.shape), oob_skip=getattr(oob_mode, "name", oob_mode) == "skip")


def dma_compute(
    dst: Any,
    srcs: Any,
    reduce_op: Any,
    scales: Any = None,
    unique_indices: bool = True,
    oob_mode: Any = _oob.error,
    name: str | None = None,
) -> None:
    """dst = sum(srcs[i] * scales[i]) on the DMA engines (only nl.add and scales of 1.0)."""
    from porter.nki.api.isa import _alu
    from porter.nki.api.language import _math as m

    api = "dma_compute"
    d = _dma_operand(api, "dst", dst)
    if not _alu.is_same(reduce_op, m.add):
        raise NkiValidationError(f"{api}: only reduce_op=nl.add is supported")
    srcs = list(srcs)
    if not 1 <= len(srcs) <= 16:
        raise NkiValidationError(f"{api}: 1 to 16 source tensors, got {len(srcs)}")
    if scales is not None and any(float(s) != 1.0 for s in scales):
        raise NkiValidationError(f"{api}: all scales must be 1.0")
    if not unique_indices:
        raise NkiValidationError(f"{api}: unique_indices=False is not supported")
    acc = np.zeros(d.size, dtype=np.float32)
    for i, s in enumerate(srcs):
        t = _dma_operand(api, f"srcs[{i}]", s)
        if t.size != d.size:
            raise NkiValidationError(f"{api}: srcs[{i}] has {t.size} elements, dst has {d.size}")
        acc += t._read_f32().reshape(-1)
    c.record(api, "dma")
    d._write(acc.reshape(d.shape))


def tensor_copy(dst: Any, src: Any, engine: Any = _engine.unknown, name: str | None = None) -> None:
    """On-chip copy; bit-exact for equal dtypes, otherwise through fp32."""
    api = "tensor_copy"
    d = c.onchip_operand(api, "dst", dst)
    s = c.onchip_operand(api, "src", src)
    c.same_layout(api, "src", s, "dst", d)
    eng = c.engine_name(engine)
    if eng == "unknown":
        eng = "vector"
    if eng not in ("vector", "scalar", "gpsimd"):
        raise NkiValidationError(f"{api}: engine must be vector, scalar or gpsimd, got {eng}")
    if eng == "gpsimd" and "psum" in (s.kind, d.kind):
        raise NkiValidationError(f"{api}: GpSimd cannot access PSUM; use the vector or scalar engine")
    if eng == "scalar" and c.version() == 2:
        raise NkiValidationError(
            f"{api}: not supported on the scalar engine on NeuronCore-v2; use activation(op=nl.copy)"
        )
    c.record(api, eng)
    if s.dtype == d.dtype and not (eng == "scalar" and c.version() == 2):
        d._write_raw(s._read_raw().reshape(d.shape))
    else:
        d._write(s._read_f32().reshape(d.shape))


def memset(dst: Any, value: Any, engine: Any = _engine.unknown, name: str | None = None) -> None:
    api = "memset"
    d = c.onchip_operand(api, "dst", dst)
    eng = c.engine_name(engine)
    if eng == "unknown":
        eng = "vector" if d.kind == "psum" else "gpsimd"
    if eng not in ("vector", "gpsimd"):
        raise NkiValidationError(f"{api}: engine must be vector or gpsimd, got {eng}")
    if eng == "gpsimd" and d.kind == "psum":
        raise NkiValidationError(f"{api}: GpSimd cannot access PSUM")
    v = float(value) if not isinstance(value, (int, np.integer)) else int(value)
    if dtypes.is_int(d.dtype) and not float(v).is_integer():
        raise NkiValidationError(f"{api}: value {value!r} does not match integer dst dtype {d.dtype}")
    c.record(api, eng)
    d._write(np.full(d.shape, v))


def _pattern_values(api: str, pattern: Any, offset: Any, channel_multiplier: Any, p: int, f: int) -> np.ndarray:
    pairs = [(int(s), int(n)) for s, n in pattern]
    if not 1 <= len(pairs) <= 4:
        raise NkiValidationError(f"{api}: pattern must have 1 to 4 [step, num] pairs, got {len(pairs)}")
    count = int(np.prod([n for _, n in pairs]))
    if count != f:
        raise NkiValidationError(f"{api}: pattern covers {count} elements but dst has {f} per partition")
    vals = np.zeros([n for _, n in pairs], dtype=np.int64)
    for i, (step, n) in enumerate(pairs):
        shp = [1] * len(pairs)
        shp[i] = n
        vals = vals + (np.arange(n, dtype=np.int64) * step).reshape(shp)
    chan = np.arange(p, dtype=np.int64)[:, None] * int(channel_multiplier)
    return (int(offset) + chan + vals.reshape(1, -1)).astype(np.int32)  # int32 arithmetic


def iota(dst: Any, pattern: Any, offset: Any = 0, channel_multiplier: Any = 0, name: str | None = None) -> None:
    """dst[p, ...] = offset + p * channel_multiplier + sum(idx_i * step_i)."""
    api = "iota"
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    vals = _pattern_values(api, pattern, offset, channel_multiplier, d.shape[0], c.free_size(d))
    c.record(api, "gpsimd")
    d._write(vals.reshape(d.shape))


def local_gather(
    dst: Any,
    src_buffer: Any,
    index: Any,
    num_elem_per_idx: int = 1,
    num_valid_indices: Any = None,
    name: str | None = None,
) -> None:
    """Gather within 16-partition groups (one GpSimd core each), with one index list per group.

    Core g owns partitions [16g, 16g + 16) of src_buffer, index and dst.  It flattens its
    16-partition slice of `index` partition-first into `indices_1d` and keeps the first
    `num_valid_indices`.  Every partition p of the group then reads, for each index k, the
    `num_elem_per_idx` contiguous elements starting at element `indices_1d[k]` of its own
    (flattened) free dims:  dst[p, k * n + j] = src_buffer[p, indices_1d[k] + j].
    """
    api = "local_gather"
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    s = c.onchip_operand(api, "src_buffer", src_buffer, ("sbuf",))
    i = c.onchip_operand(api, "index", index, ("sbuf",))
    if i.dtype != "uint16":
        raise NkiValidationError(f"{api}: index must be uint16, got {i.dtype}")
    if s.shape[0] != i.shape[0] or s.shape[0] % 16:
        raise NkiValidationError(
            f"{api}: src_buffer and index partition sizes must match and be a multiple of 16, "
            f"got {s.shape[0]} and {i.shape[0]}"
        )
    if d.shape[0] != s.shape[0]:
        raise NkiValidationError(f"{api}: dst partition size {d.shape[0]} must equal src_buffer's {s.shape[0]}")
    n = int(num_elem_per_idx)
    if n not in (1, 2, 4, 8, 16, 32):
        raise NkiValidationError(f"{api}: num_elem_per_idx must be one of 1, 2, 4, 8, 16, 32, got {num_elem_per_idx}")
    if d.dtype != s.dtype:
        raise NkiValidationError(f"{api}: dst dtype {d.dtype} must equal src_buffer dtype {s.dtype} (no casting)")
    p = s.shape[0]
    cores = p // 16
    per_core = 16 * c.free_size(i)  # index.size / (index.shape[0] / 16)
    valid = per_core if num_valid_indices is None else int(num_valid_indices)
    if not 1 <= valid <= per_core:
        raise NkiValidationError(
            f"{api}: num_valid_indices {valid} must be in [1, {per_core}] (the indices in a 16-partition index slice)"
        )
    if valid > 4096:
        raise NkiValidationError(f"{api}: num_valid_indices {valid} exceeds 4096 indices per core")
    if c.free_size(d) != valid * n:
        raise NkiValidationError(
            f"{api}: dst has {c.free_size(d)} elements per partition, expected num_valid_indices * num_elem_per_idx "
            f"= {valid} * {n} = {valid * n}"
        )
    src = s._read_raw().reshape(p, -1)
    # Partition-first flattening of each core's [16, F] index slice, as index[...].flatten(order='F').
    idx = i._read_raw().astype(np.int64).reshape(cores, 16, -1).transpose(0, 2, 1).reshape(cores, -1)[:, :valid]
    offs = (idx[:, :, None] + np.arange(n)[None, None, :]).reshape(cores, -1)
    bad = offs.max(axis=1) >= src.shape[1]
    if bad.any():
        g = int(np.argmax(bad))
        raise NkiValidationError(
            f"{api}: an index of core {g} (partitions {16 * g}-{16 * g + 15}) reads past the {src.shape[1]} "
            "elements per partition of src_buffer (out-of-bounds behaviour is undefined on hardware)"
        )
    got = np.take_along_axis(src, np.repeat(offs, 16, axis=0), axis=1)
    c.record(api, "gpsimd")
    d._write_raw(got.reshape(d.shape))


def nc_n_gather(dst: Any, data: Any, indices: Any, name: str | None = None) -> None:
    """Per partition gather from the flattened free dims of data (uint32 indices)."""
    api = "nc_n_gather"
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    x = c.onchip_operand(api, "data", data, ("sbuf",))
    i = c.onchip_operand(api, "indices", indices, ("sbuf",))
    if i.dtype != "uint32":
        raise NkiValidationError(f"{api}: indices must be uint32, got {i.dtype}")
    if d.dtype != x.dtype:
        raise NkiValidationError(f"{api}: dst dtype must equal data dtype")
    if not x.shape[0] == i.shape[0] == d.shape[0]:
        raise NkiValidationError(f"{api}: data, indices and dst must have the same partition size")
    if c.free_size(d) != c.free_size(i):
        raise NkiValidationError(f"{api}: dst and indices must have the same elements per partition")
    p = x.shape[0]
    flat = x._read_raw().reshape(p, -1)
    idx = i._read_raw().astype(np.int64).reshape(p, -1)
    if idx.size and idx.max() >= flat.shape[1]:
        raise NkiValidationError(f"{api}: indices must be in [0, {flat.shape[1]})")
    c.record(api, "gpsimd")
    d._write_raw(np.take_along_axis(flat, idx, axis=1).reshape(d.shape))


def nc_stream_shuffle(dst: Any, src: Any, shuffle_mask: Any, name: str | None = None) -> None:
    """Within each 32-partition quadrant, dst[i] = src[mask[i]] (255 leaves dst[i] unchanged)."""
    api = "nc_stream_shuffle"
    d = c.onchip_operand(api, "dst", dst)
    s = c.onchip_operand(api, "src", src)
    if d.dtype != s.dtype or c.free_size(d) != c.free_size(s):
        raise NkiValidationError(f"{api}: dst and src need the same dtype and elements per partition")
    mask = [int(v) for v in shuffle_mask]
    if len(mask) != 32:
        raise NkiValidationError(f"{api}: shuffle_mask must have 32 entries, got {len(mask)}")
    src_v = s._read_raw().reshape(s.shape[0], -1)
    out = d._read_raw().reshape(d.shape[0], -1)
    for q in range(-(-d.shape[0] // 32)):
        for i, mi in enumerate(mask):
            row = q * 32 + i
            if mi == 255 or row >= out.shape[0]:
                continue
            if q * 32 + mi >= src_v.shape[0]:
                raise NkiValidationError(f"{api}: mask entry {mi} reads past src partition {src_v.shape[0]}")
            out[row] = src_v[q * 32 + mi]
    c.record(api, "vector")
    d._write_raw(out.reshape(d.shape))


def nonzero_with_count(
    dst: Any, src: Any, index_offset: int = 0, padding_val: int = -1, name: str | None = None
) -> None:
    """On partitions 0, 16, ..., 112: indices of nonzeros (+offset), padding, then the count."""
    api = "nonzero_with_count"
    c.require_version(api, 3)
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    s = c.onchip_operand(api, "src", src, ("sbuf",))
    if s.dtype not in ("float32", "int32") or d.dtype != "int32":
        raise NkiValidationError(f"{api}: src must be float32/int32 and dst int32")
    if d.shape[0] != s.shape[0] or c.free_size(d) != c.free_size(s) + 1:
        raise NkiValidationError(f"{api}: dst must have the same partitions and one more element than src")
    sv = s._read_raw().reshape(s.shape[0], -1)
    out = d._read_raw().reshape(d.shape[0], -1)
    t = sv.shape[1]
    rows = np.arange(0, s.shape[0], 16)
    nz = sv[rows] != 0
    order = np.argsort(~nz, axis=1, kind="stable")
    counts = nz.sum(axis=1)
    pos = np.arange(t)[None, :]
    out[rows, :t] = np.where(pos < counts[:, None], order + int(index_offset), int(padding_val))
    out[rows, t] = counts
    c.record(api, "gpsimd")
    d._write_raw(out.reshape(d.shape))


def sequence_bounds(dst: Any, segment_ids: Any, name: str | None = None) -> None:
    """For each element: [start, end] of its segment; padding (id 0) gets [n, -1]."""
    api = "sequence_bounds"
    d = c.onchip_operand(api, "dst", dst)
    s = c.onchip_operand(api, "segment_ids", segment_ids)
    if s.shape[0] != 1 or d.shape[0] != 1:
        raise NkiValidationError(f"{api}: the partition dimension must be 1")
    for what, t in (("segment_ids", s), ("dst", d)):
        if t.dtype not in ("float32", "int32"):
            raise NkiValidationError(f"{api}: {what} must be float32 or int32, got {t.dtype}")
    ids = s._read_f32().reshape(-1)
    n = ids.size
    if c.free_size(d) != 2 * n:
        raise NkiValidationError(f"{api}: dst must hold (1, 2, {n}) elements")
    pos = np.arange(n)
    change = np.r_[True, ids[1:] != ids[:-1]]
    run_id = np.cumsum(change) - 1
    starts = pos[change]
    ends = np.r_[starts[1:] - 1, n - 1]
    start, end = starts[run_id], ends[run_id]
    pad = ids == 0
    out = np.stack([np.where(pad, n, start), np.where(pad, -1, end)])
    c.record(api, "gpsimd")
    d._write(out.reshape(d.shape))
