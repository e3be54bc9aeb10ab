"""TensorE instructions: nc_matmul and nc_transpose."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.api.isa.enums import engine as _engine
from porter.nki.api.isa.enums import matmul_perf_mode
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor

MATMUL_IN = ("float8_e4m3", "float8_e5m2", "bfloat16", "float16", "tfloat32", "float32")
FP8 = ("float8_e4m3", "float8_e5m2", "float8_e4m3fn")


def _tiling(api: str, tile_position: Any, tile_size: Any, version: int) -> tuple[int, int]:
    """Validate TensorE row/column tiling; return (row_size, column_size)."""
    if not tile_position and not tile_size:
        return 128, 128
    if not tile_position or not tile_size:
        raise NkiValidationError(f"{api}: tile_position and tile_size must both be set to enable tiling mode")
    if len(tile_position) != 2 or len(tile_size) != 2:
        raise NkiValidationError(f"{api}: tile_position and tile_size must be 2-tuples")
    row, col = (int(v) for v in tile_size)
    r0, c0 = (int(v) for v in tile_position)
    allowed = (32, 64, 128) if version >= 3 else (64, 128)
    for name, size in (("row_size", row), ("column_size", col)):
        if size not in allowed:
            raise NkiValidationError(f"{api}: tile_size {name} {size} must be one of {allowed} on v{version}")
    for name, start, size in (("start_row", r0, row), ("start_column", c0, col)):
        if start % size or start + size > 128:
            raise NkiValidationError(f"{api}: tile_position {name} {start} must be a multiple of {size} within 128")
    return row, col


def nc_matmul(
    dst: Any,
    stationary: Any,
    moving: Any,
    is_stationary_onezero: bool = False,
    is_moving_onezero: bool = False,
    is_transpose: bool = False,
    accumulate: bool | None = None,
    tile_position: Any = (),
    tile_size: Any = (),
    perf_mode: Any = matmul_perf_mode.none,
    name: str | None = None,
) -> None:
    """dst = stationary.T @ moving (contraction over the partition dim), fp32 accumulation in PSUM.

    accumulate=None: elements not inside an open accumulation group are overwritten, the rest
    accumulate.  A group opens when nc_matmul writes an element and closes when any other
    instruction reads or writes it (e.g. the tensor_copy that evicts PSUM to SBUF).
    """
    api = "nc_matmul"
    d = c.onchip_operand(api, "dst", dst, ("psum",))
    s = c.onchip_operand(api, "stationary", stationary, ("sbuf",))
    m = c.onchip_operand(api, "moving", moving, ("sbuf",))
    v = c.version()
    double = getattr(perf_mode, "name", perf_mode) == "double_row"
    row, col = _tiling(api, tile_position, tile_size, v)
    for what, t in (("stationary", s), ("moving", m)):
        allowed = MATMUL_IN + (("float8_e4m3fn",) if v >= 4 else ())
        if t.dtype not in allowed:
            raise NkiValidationError(f"{api}: {what} dtype {t.dtype} not supported; expected one of {allowed}")
    pair = {s.dtype, m.dtype}
    if pair & {"float32", "tfloat32"} and not pair <= {"float32", "tfloat32"}:
        raise NkiValidationError(
            f"{api}: if one input is float32/tfloat32 both must be (stationary {s.dtype}, moving {m.dtype})"
        )
    if pair >= {"float8_e4m3", "float8_e4m3fn"}:
        raise NkiValidationError(f"{api}: float8_e4m3 and float8_e4m3fn cannot be mixed")
    if is_transpose:
        if d.dtype != s.dtype:
            raise NkiValidationError(f"{api}: transpose mode needs dst dtype {s.dtype}, got {d.dtype}")
    elif d.dtype != "float32" and not (v >= 4 and d.dtype == "bfloat16"):
        allowed_dst = "float32 or bfloat16" if v >= 4 else "float32"
        raise NkiValidationError(f"{api}: dst must be {allowed_dst} on v{v}, got {d.dtype}")
    if double:
        if v < 3:
            raise NkiValidationError(f"{api}: perf_mode=double_row needs NeuronCore-v3 or newer")
        if not (s.dtype in FP8 and m.dtype in FP8):
            raise NkiValidationError(f"{api}: double_row needs fp8 inputs, got {s.dtype} and {m.dtype}")
        if col != 128:
            raise NkiValidationError(f"{api}: double_row cannot be combined with column tiling")
        if s.ndim < 3 or m.ndim < 3 or s.shape[1] != 2 or m.shape[1] != 2:
            raise NkiValidationError(f"{api}: double_row needs [P, 2, ...] operands, got {s.shape} and {m.shape}")
        sv = s._read_f32().reshape(s.shape[0] * 2, -1)
        mv = m._read_f32().reshape(m.shape[0] * 2, -1)
    else:
        sv = s._read_f32().reshape(s.shape[0], -1)
        mv = m._read_f32().reshape(m.shape[0], -1)
    if s.shape[0] != m.shape[0]:
        raise NkiValidationError(
            f"{api}: stationary partition size {s.shape[0]} does not match moving partition size {m.shape[0]}"
        )
    if s.shape[0] > row:
        raise NkiValidationError(f"{api}: partition (contraction) size {s.shape[0]} exceeds {row}")
    if sv.shape[1] > col:
        raise NkiValidationError(f"{api}: stationary free size {sv.shape[1]} exceeds {col}")
    moving_max = 512 if v < 4 else (8192 if d.dtype == "bfloat16" else 4096)
    if mv.shape[1] > moving_max:
        raise NkiValidationError(f"{api}: moving free size {mv.shape[1]} exceeds {moving_max}")
    if d.shape[0] != sv.shape[1] or c.free_size(d) != mv.shape[1]:
        raise NkiValidationError(
            f"{api}: dst shape {d.shape} does not match result [{sv.shape[1]}, {mv.shape[1]}] "
            f"(stationary free -> dst partition, moving free -> dst free)"
        )
    if "tfloat32" in pair:  # tf32 operands keep 10 mantissa bits
        sv = dtypes.cast(sv, "tfloat32") if s.dtype == "tfloat32" else sv
        mv = dtypes.cast(mv, "tfloat32") if m.dtype == "tfloat32" else mv
    with np.errstate(all="ignore"):
        # float32 BLAS matmul (fp32 accumulation); `dtype=` would bypass BLAS.
        res = (np.ascontiguousarray(sv.T, dtype=np.float32) @ np.ascontiguousarray(mv, dtype=np.float32)).reshape(
            d.shape
        )
    c.record(api, "tensor")
    _accumulate_into(api, d, res, accumulate)


def _accumulate_into(api: str, d: NkiTensor, res: np.ndarray, accumulate: bool | None) -> None:
    d._touch(write=True)
    acc_view = d._np(d._alloc.acc)
    if accumulate is None:
        add = acc_view.copy()
    else:
        add = np.full(d.shape, bool(accumulate))
    old = dtypes.to_f32(d._np())
    with np.errstate(all="ignore"):
        out = np.where(add, old + res, res)
    d._np()[...] = dtypes.cast(out, d.dtype)
    d._alloc.dirty = True
    acc_view[...] = True


def nc_transpose(dst: Any, data: Any, engine: Any = _engine.unknown, name: str | None = None) -> None:
    """2-D transpose of partition and (flattened) free axes on TensorE (<=128x128) or VectorE (<=32x32)."""
    api = "nc_transpose"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    eng = c.engine_name(engine)
    p, f = x.shape[0], c.free_size(x)
    if eng == "unknown":
        eng = "tensor" if (x.kind == "sbuf" and d.kind == "psum") else "vector"
    if eng == "tensor":
        c.require_buffer(api, "data", x, ("sbuf",))
        c.require_buffer(api, "dst", d, ("psum",))
        if p > 128 or f > 128:
            raise NkiValidationError(f"{api}: TensorE transpose handles up to [128, 128], got [{p}, {f}]")
    elif eng == "vector":
        if p > 32 or f > 32:
            raise NkiValidationError(f"{api}: VectorE transpose handles up to [32, 32], got [{p}, {f}]")
    else:
        raise NkiValidationError(f"{api}: engine must be tensor or vector, got {eng}")
    if d.dtype != x.dtype:
        raise NkiValidationError(f"{api}: dst dtype {d.dtype} must equal data dtype {x.dtype}")
    if d.shape[0] != f or c.free_size(d) != p:
        raise NkiValidationError(f"{api}: dst shape {d.shape} must be [{f}, {p}] for data shape {x.shape}")
    c.record(api, eng)
    d._write_raw(x._read_raw().reshape(p, f).T.reshape(d.shape))
