"""Predicated selection, masking and random instructions."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import context, dtypes
from porter.nki.api import _common as c
from porter.nki.api.isa import _alu
from porter.nki.api.isa.enums import engine as _engine
from porter.nki.api.isa.enums import reduce_cmd as _cmd
from porter.nki.api.isa.movement import _pattern_values
from porter.nki.api.isa.scalar import _cmd_name, _reduce_res
from porter.nki.api.language import _math as m
from porter.nki.errors import NkiValidationError

FP32_MIN = float(np.finfo(np.float32).min)
COMPARES = ("equal", "less", "less_equal", "greater", "greater_equal", "not_equal")


def _compare(api: str, op: Any, a: np.ndarray, b: Any, what: str) -> np.ndarray:
    name = getattr(op, "__name__", "")
    if name not in COMPARES:
        raise NkiValidationError(f"{api}: {what} must be a comparison (nl.equal, nl.less, ...), got {name or op!r}")
    return _alu.binary(api, op, a, b, what) != 0


def affine_select(
    dst: Any,
    pattern: Any,
    channel_multiplier: Any,
    on_true_tile: Any,
    on_false_value: Any,
    cmp_op: Any = m.equal,
    offset: Any = 0,
    name: str | None = None,
) -> None:
    """dst = on_true_tile where cmp_op(affine(p, idx), 0) else on_false_value (e.g. causal masks)."""
    api = "affine_select"
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    t = c.onchip_operand(api, "on_true_tile", on_true_tile, ("sbuf",))
    c.same_layout(api, "on_true_tile", t, "dst", d)
    p, f = d.shape[0], c.free_size(d)
    affine = _pattern_values(api, pattern, offset, channel_multiplier, p, f).astype(np.float32)
    pred = _compare(api, cmp_op, affine, np.float32(0), "cmp_op")
    true_v = t._read_raw().reshape(p, f)
    c.record(api, "gpsimd")
    if t.dtype == d.dtype:
        out = np.where(pred, true_v, dtypes.cast(np.float32(on_false_value), d.dtype))
        d._write_raw(out.reshape(d.shape))
    else:
        d._write(np.where(pred, dtypes.to_f32(true_v), np.float32(on_false_value)).reshape(d.shape))


def range_select(
    dst: Any,
    on_true_tile: Any,
    comp_op0: Any,
    comp_op1: Any,
    bound0: Any,
    bound1: Any,
    reduce_cmd: Any = _cmd.reset_reduce,
    reduce_res: Any = None,
    reduce_op: Any = m.maximum,
    range_start: Any = 0,
    on_false_value: Any = FP32_MIN,
    name: str | None = None,
) -> None:
    """Keep elements whose (range_start + free index) satisfies both bound comparisons; max-reduce."""
    api = "range_select"
    c.require_version(api, 3)
    d = c.onchip_operand(api, "dst", dst)
    t = c.onchip_operand(api, "on_true_tile", on_true_tile)
    c.same_layout(api, "on_true_tile", t, "dst", d)
    if not dtypes.is_float(t.dtype):
        raise NkiValidationError(f"{api}: on_true_tile must be a float dtype, got {t.dtype}")
    if on_false_value is Ellipsis:
        on_false_value = FP32_MIN
    if float(on_false_value) != FP32_MIN:
        raise NkiValidationError(f"{api}: on_false_value must be FP32_MIN ({FP32_MIN})")
    if not _alu.is_same(reduce_op, m.maximum):
        raise NkiValidationError(f"{api}: only reduce_op=nl.maximum is supported")
    p, f = t.shape[0], c.free_size(t)
    b0 = c.scalar_or_vector(api, "bound0", bound0, p, f32_only=True)
    b1 = c.scalar_or_vector(api, "bound1", bound1, p, f32_only=True)
    idx = np.broadcast_to((int(range_start) + np.arange(f)).astype(np.float32), (p, f))
    mask = _compare(api, comp_op0, idx, b0, "comp_op0") & _compare(api, comp_op1, idx, b1, "comp_op1")
    out = np.where(mask, t._read_f32().reshape(p, f), np.float32(FP32_MIN))
    _vector_max_reduce(api, reduce_cmd, reduce_res, out, p)
    c.record(api, "vector")
    d._write(out.reshape(d.shape))


def _vector_max_reduce(api: str, reduce_cmd: Any, reduce_res: Any, out: np.ndarray, p: int) -> None:
    cmd = _cmd_name(reduce_cmd)
    regs = context.current().vec_regs
    if cmd in ("reset", "reset_reduce"):
        regs[:p] = -np.inf
    if cmd in ("reduce", "reset_reduce"):
        regs[:p] = np.maximum(regs[:p], out.max(axis=1) if out.shape[1] else -np.inf)
    rr = _reduce_res(api, reduce_res, p)
    if rr is not None:
        rr._write(regs[:p].reshape(rr.shape))


def select_reduce(
    dst: Any,
    predicate: Any,
    on_true: Any,
    on_false: Any,
    reduce_res: Any = None,
    reduce_cmd: Any = _cmd.idle,
    reduce_op: Any = m.maximum,
    reverse_pred: bool = False,
    name: str | None = None,
) -> None:
    """dst = where(predicate, on_true, on_false) with optional max reduction into reduce_res."""
    api = "select_reduce"
    d = c.onchip_operand(api, "dst", dst)
    pr = c.onchip_operand(api, "predicate", predicate)
    t = c.onchip_operand(api, "on_true", on_true)
    c.same_layout(api, "on_true", t, "dst", d)
    c.same_layout(api, "on_true", t, "predicate", pr)
    c.not_both_psum(api, "on_true", t, "predicate", pr)
    if t.dtype in ("tfloat32", "int32", "uint32"):
        raise NkiValidationError(f"{api}: on_true dtype {t.dtype} is not supported")
    if pr.dtype not in ("int8", "uint8", "int16", "uint16"):
        raise NkiValidationError(f"{api}: predicate must be int8/uint8/int16/uint16, got {pr.dtype}")
    if not _alu.is_same(reduce_op, m.maximum):
        raise NkiValidationError(f"{api}: only reduce_op=nl.maximum is supported")
    if reduce_res is not None and not dtypes.is_float(reduce_res.dtype):
        raise NkiValidationError(f"{api}: reduce_res must be a float dtype")
    p = t.shape[0]
    mask = pr._read_raw().reshape(p, -1) != 0
    if reverse_pred:
        mask = ~mask
    false_v = c.scalar_or_vector(api, "on_false", on_false, p)
    out = np.where(mask, t._read_f32().reshape(p, -1), false_v).astype(np.float32)
    _vector_max_reduce(api, reduce_cmd, reduce_res, out, p)
    c.record(api, "vector")
    d._write(out.reshape(d.shape))


def tensor_copy_predicated(
    dst: Any, src: Any, predicate: Any, reverse_pred: bool = False, name: str | None = None
) -> None:
    """Copy src (tile or scalar) into dst where predicate is true; other dst elements stay."""
    api = "tensor_copy_predicated"
    d = c.onchip_operand(api, "dst", dst)
    pr = c.onchip_operand(api, "predicate", predicate)
    c.same_layout(api, "predicate", pr, "dst", d)
    if pr.dtype not in ("uint8", "uint16", "uint32"):
        raise NkiValidationError(f"{api}: predicate must be uint8, uint16 or uint32, got {pr.dtype}")
    mask = (pr._read_raw() != 0).reshape(d.shape)
    if reverse_pred:
        mask = ~mask
    if hasattr(src, "shape") and hasattr(src, "_read_raw"):
        s = c.onchip_operand(api, "src", src)
        c.same_layout(api, "src", s, "dst", d)
        c.not_both_psum(api, "src", s, "predicate", pr)
        if s.dtype != d.dtype:
            raise NkiValidationError(f"{api}: src dtype {s.dtype} must equal dst dtype {d.dtype}")
        vals = s._read_raw().reshape(d.shape)
    else:
        vals = np.broadcast_to(dtypes.cast(np.asarray(src), d.dtype), d.shape)
    out = d._read_raw()
    np.copyto(out, vals, where=mask)
    c.record(api, "vector")
    d._write_raw(out)


def dropout(dst: Any, data: Any, prob: Any, name: str | None = None) -> None:
    """Zero each element with probability prob (scalar or (P, 1)); kept values are not rescaled."""
    api = "dropout"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    c.same_layout(api, "data", x, "dst", d)
    if d.dtype != x.dtype:
        raise NkiValidationError(f"{api}: dst dtype {d.dtype} must equal data dtype {x.dtype}")
    if hasattr(prob, "dtype") and dtypes.is_int(x.dtype) and prob.dtype != "float32":
        raise NkiValidationError(f"{api}: prob must be float32 when data is an integer type")
    p = x.shape[0]
    pv = c.scalar_or_vector(api, "prob", prob, p)
    vals = x._read_raw().reshape(p, -1)
    keep = context.current().launch.rng.random(vals.shape, dtype=np.float32) >= pv
    c.record(api, "vector")
    d._write_raw(np.where(keep, vals, dtypes.cast(np.zeros(1), d.dtype)[0]).reshape(d.shape))


def rng(dst: Any, engine: Any = _engine.unknown, name: str | None = None) -> None:
    """32 random bits per element (seeded generator, PORTER_NKI_SEED), truncated to dst's integer width."""
    api = "rng"
    d = c.onchip_operand(api, "dst", dst)
    if d.dtype not in ("int8", "int16", "int32", "uint8", "uint16", "uint32"):
        raise NkiValidationError(f"{api}: dst must be an integer type, got {d.dtype}")
    eng = c.engine_name(engine)
    if eng == "unknown":
        eng = "vector"
    if eng == "gpsimd" and (c.version() < 3 or d.kind == "psum"):
        raise NkiValidationError(f"{api}: GpSimd rng needs v3+ and an SBUF dst")
    bits = context.current().launch.rng.integers(0, 2**32, size=d.shape, dtype=np.uint64)
    store = dtypes.storage_type(d.dtype)
    c.record(api, eng)
    d._write_raw((bits & ((1 << (8 * store.itemsize)) - 1)).astype(store))


def rand2(dst: Any, min: Any, max: Any, name: str | None = None) -> None:  # noqa: A002
    """NeuronCore-v4: uniform values in [min, max]."""
    api = "rand2"
    c.require_version(api, 4)
    d = c.onchip_operand(api, "dst", dst)
    p = d.shape[0]
    lo = c.scalar_or_vector(api, "min", min, p)
    hi = c.scalar_or_vector(api, "max", max, p)
    u = context.current().launch.rng.random((p, c.free_size(d)), dtype=np.float32)
    c.record(api, "vector")
    d._write((lo + u * (hi - lo)).reshape(d.shape))
