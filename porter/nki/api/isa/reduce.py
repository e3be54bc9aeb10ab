"""Reductions, scans, statistics and top-8 search instructions."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import context
from porter.nki.api import _common as c
from porter.nki.api.isa import _alu
from porter.nki.api.isa.enums import reduce_cmd as _cmd
from porter.nki.api.isa.scalar import _cmd_name, _reduce_res
from porter.nki.api.isa.vector import _apply
from porter.nki.api.language import _math as m
from porter.nki.errors import NkiValidationError


def tensor_reduce(
    dst: Any, op: Any, data: Any, axis: Any, negate: bool = False, keepdims: bool = False, name: str | None = None
) -> None:
    """Reduce the last contiguous free axes of data; arithmetic in fp32."""
    api = "tensor_reduce"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    axes = sorted({int(a) % x.ndim for a in (axis if isinstance(axis, (tuple, list)) else (axis,))})
    if 0 in axes:
        raise NkiValidationError(f"{api}: axis 0 (partition axis) cannot be reduced")
    if axes != list(range(axes[0], x.ndim)):
        raise NkiValidationError(
            f"{api}: reduction axes {tuple(axes)} must be the last contiguous free dims ending at dim {x.ndim - 1}"
        )
    if d.shape[0] != x.shape[0]:
        raise NkiValidationError(f"{api}: dst partition size {d.shape[0]} != data partition size {x.shape[0]}")
    kept = int(np.prod(x.shape[1 : axes[0]])) if axes[0] > 1 else 1
    if c.free_size(d) != kept:
        raise NkiValidationError(
            f"{api}: dst must have {kept} elements per partition for axis={tuple(axes)}, got {c.free_size(d)}"
        )
    k = _alu.kind(api, op)
    _, red, _ = _alu.reducer(api, op)
    if k == "bitvec":
        _alu.require_int(api, [("data", x.dtype), ("dst", d.dtype)])
        if negate:
            raise NkiValidationError(f"{api}: negate only applies to arithmetic operators")
        vals = red(x._read_raw().astype(np.int64), tuple(axes))
    else:
        with np.errstate(all="ignore"):
            vals = np.asarray(red(x._read_f32(), tuple(axes)), dtype=np.float32)
        if negate:
            vals = -vals
    c.record(api, "vector")
    d._write(np.asarray(vals).reshape(d.shape))


def tensor_partition_reduce(dst: Any, op: Any, data: Any, name: str | None = None) -> None:
    """Reduce across the partition dim (GpSimd); dst has one partition."""
    api = "tensor_partition_reduce"
    d = c.onchip_operand(api, "dst", dst, ("sbuf",))
    x = c.onchip_operand(api, "data", data, ("sbuf",))
    allowed = (m.add, m.maximum, m.bitwise_or, m.bitwise_and)
    if not any(_alu.is_same(op, a) for a in allowed):
        raise NkiValidationError(f"{api}: op must be one of add, maximum, bitwise_or, bitwise_and")
    if d.shape[0] != 1 or c.free_size(d) != c.free_size(x):
        raise NkiValidationError(f"{api}: dst must be [1, {c.free_size(x)}] elements, got {d.shape}")
    _, red, _ = _alu.reducer(api, op)
    if _alu.kind(api, op) == "bitvec":
        vals = red(x._read_raw().astype(np.int64).reshape(x.shape[0], -1), 0)
    else:
        vals = red(x._read_f32().reshape(x.shape[0], -1), 0)
    c.record(api, "gpsimd")
    d._write(np.asarray(vals).reshape(d.shape))


def tensor_tensor_scan(
    dst: Any,
    data0: Any,
    data1: Any,
    initial: Any,
    op0: Any,
    op1: Any,
    reverse0: bool = False,
    reverse1: bool = False,
    name: str | None = None,
) -> None:
    """result[:, i] = op1(op0(data0[:, i], result[:, i-1]), data1[:, i]), result[:, -1] = initial."""
    api = "tensor_tensor_scan"
    d = c.onchip_operand(api, "dst", dst)
    a = c.onchip_operand(api, "data0", data0)
    b = c.onchip_operand(api, "data1", data1)
    c.same_layout(api, "data0", a, "data1", b)
    c.same_layout(api, "data0", a, "dst", d)
    c.not_both_psum(api, "data0", a, "data1", b)
    for what, o in (("op0", op0), ("op1", op1)):
        if _alu.kind(api, o, what) != "arith":
            raise NkiValidationError(f"{api}: {what} must be a binary arithmetic operator")
    p = a.shape[0]
    prev = c.scalar_or_vector(api, "initial", initial, p)
    prev = np.broadcast_to(np.asarray(prev, dtype=np.float32).reshape(-1), (p,)).copy()
    av = a._read_f32().reshape(p, -1)
    bv = b._read_f32().reshape(p, -1)
    out = np.empty_like(av)
    for i in range(av.shape[1]):  # loop-carried along the free dim, vectorised over partitions
        t = _alu.binary(api, op0, prev, av[:, i]) if reverse0 else _alu.binary(api, op0, av[:, i], prev)
        prev = _alu.binary(api, op1, bv[:, i], t) if reverse1 else _alu.binary(api, op1, t, bv[:, i])
        out[:, i] = prev
    c.record(api, "vector")
    d._write(out.reshape(d.shape))


def _vec_regs_start(api: str, cmd: str, reduce_op: Any, reduce_init: Any, p: int) -> np.ndarray:
    regs = context.current().vec_regs
    _, _, ident = _alu.reducer(api, reduce_op, "reduce_op")
    if cmd == "reset_reduce":
        regs[:p] = ident
    elif cmd == "load_reduce":
        if reduce_init is None:
            raise NkiValidationError(f"{api}: reduce_init must be provided when reduce_cmd is load_reduce")
        regs[:p] = np.asarray(c.scalar_or_vector(api, "reduce_init", reduce_init, p)).reshape(-1)
    elif cmd != "reduce":
        raise NkiValidationError(f"{api}: reduce_cmd {cmd} is not supported (reset_reduce, reduce, load_reduce)")
    return regs


def tensor_scalar_reduce(
    dst: Any,
    data: Any,
    op0: Any,
    operand0: Any,
    reduce_op: Any,
    reduce_res: Any,
    reverse0: bool = False,
    reduce_cmd: Any = _cmd.reset_reduce,
    reduce_init: Any = None,
    name: str | None = None,
) -> None:
    """dst = data <op0> operand0; reduce_res = reduce_op over the free dims (VectorE accumulators)."""
    api = "tensor_scalar_reduce"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    c.same_layout(api, "data", x, "dst", d)
    p = x.shape[0]
    if _alu.kind(api, op0, "op0") == "bitvec":
        raise NkiValidationError(f"{api}: op0 must be an arithmetic operator")
    if not any(_alu.is_same(reduce_op, o) for o in (m.add, m.multiply, m.maximum, m.minimum)):
        raise NkiValidationError(f"{api}: reduce_op must be add, multiply, max or min")
    cmd = _cmd_name(reduce_cmd)
    if reduce_init is not None and cmd != "load_reduce":
        raise NkiValidationError(f"{api}: reduce_init should only be set when reduce_cmd is load_reduce")
    rr = _reduce_res(api, reduce_res, p)
    if rr is None:
        raise NkiValidationError(f"{api}: reduce_res is required")
    o0 = c.scalar_or_vector(api, "operand0", operand0, p)
    v = _apply(api, op0, x._read_f32().reshape(p, -1), o0, reverse0, "op0")
    regs = _vec_regs_start(api, cmd, reduce_op, reduce_init, p)
    comb, red, _ = _alu.reducer(api, reduce_op)
    regs[:p] = comb(regs[:p], red(v, 1))
    c.record(api, "vector")
    d._write(v.reshape(d.shape))
    rr._write(regs[:p].reshape(rr.shape))


def tensor_scalar_cumulative(
    dst: Any,
    src: Any,
    op0: Any,
    op1: Any,
    imm0: Any,
    imm1: Any = None,
    reduce_cmd: Any = _cmd.reset_reduce,
    name: str | None = None,
) -> None:
    """dst[:, i] = reg = op1(op0(src[:, i], imm0), reg) along the free dim."""
    api = "tensor_scalar_cumulative"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "src", src)
    c.same_layout(api, "src", x, "dst", d)
    for what, t in (("src", x), ("dst", d)):
        if t.dtype in ("int32", "uint32", "tfloat32", "bool"):
            raise NkiValidationError(f"{api}: {what} dtype {t.dtype} is not supported")
    if not any(_alu.is_same(op1, o) for o in (m.add, m.subtract, m.multiply, m.maximum, m.minimum)):
        raise NkiValidationError(f"{api}: op1 must be add, subtract, multiply, maximum or minimum")
    p = x.shape[0]
    cmd = _cmd_name(reduce_cmd)
    regs = _vec_regs_start(api, cmd, op1, imm1, p)
    v = _apply(api, op0, x._read_f32().reshape(p, -1), c.scalar_or_vector(api, "imm0", imm0, p), False, "op0")
    out = np.empty_like(v)
    reg = regs[:p].copy()
    if _alu.is_same(op1, m.add):
        out = (reg[:, None] + np.cumsum(v, axis=1, dtype=np.float32)).astype(np.float32)
    else:
        for i in range(v.shape[1]):  # loop-carried; vectorised over partitions
            reg = _alu.binary(api, op1, v[:, i], reg)
            out[:, i] = reg
    regs[:p] = out[:, -1] if out.shape[1] else reg
    c.record(api, "vector")
    d._write(out.reshape(d.shape))


def bn_stats(dst: Any, data: Any, name: str | None = None) -> None:
    """Per partition: (count, mean, var*count) of even- and odd-indexed elements (6 values)."""
    api = "bn_stats"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    p, f = x.shape[0], c.free_size(x)
    if f > 512:
        raise NkiValidationError(f"{api}: data has {f} elements per partition; maximum is 512 (bn_stats_fmax)")
    if d.shape[0] != p or c.free_size(d) != 6:
        raise NkiValidationError(f"{api}: dst must have shape ({p}, 6), got {d.shape}")
    v = x._read_f32().reshape(p, f)
    cols = []
    for part in (v[:, 0::2], v[:, 1::2]):
        n = part.shape[1]
        mean = part.mean(axis=1, dtype=np.float32) if n else np.zeros(p, np.float32)
        m2 = ((part - mean[:, None]) ** 2).sum(axis=1, dtype=np.float32) if n else np.zeros(p, np.float32)
        cols += [np.full(p, n, np.float32), mean, m2]
    c.record(api, "vector")
    d._write(np.stack(cols, axis=1).reshape(d.shape))


def bn_aggr(dst: Any, data: Any, name: str | None = None) -> None:
    """Combine (count, mean, var*count) triples into (mean, variance) per partition."""
    api = "bn_aggr"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    p, f = x.shape[0], c.free_size(x)
    if f % 3:
        raise NkiValidationError(f"{api}: data elements per partition ({f}) must be a multiple of 3")
    if d.shape[0] != p or c.free_size(d) != 2:
        raise NkiValidationError(f"{api}: dst must have shape ({p}, 2), got {d.shape}")
    t = x._read_f32().reshape(p, f // 3, 3).astype(np.float64)
    cnt, mean, m2 = t[..., 0], t[..., 1], t[..., 2]
    total = cnt.sum(axis=1)
    with np.errstate(all="ignore"):
        gmean = (cnt * mean).sum(axis=1) / total
        var = (m2.sum(axis=1) + (cnt * (mean - gmean[:, None]) ** 2).sum(axis=1)) / total
    c.record(api, "vector")
    d._write(np.stack([gmean, var], axis=1).astype(np.float32).reshape(d.shape))


def _search_src(api: str, src: Any) -> tuple[Any, int, int]:
    x = c.onchip_operand(api, "data", src)
    if x.ndim > 3:
        raise NkiValidationError(f"{api}: source tile can be at most 3-D, got {x.shape}")
    p, f = x.shape[0], c.free_size(x)
    if not 8 <= f <= 16384:
        raise NkiValidationError(f"{api}: elements per partition must be in [8, 16384], got {f}")
    return x, p, f


def _dst8(api: str, dst: Any, p: int, what: str = "dst") -> Any:
    d = c.onchip_operand(api, what, dst)
    if d.shape != (p, 8):
        raise NkiValidationError(f"{api}: {what} must have shape ({p}, 8), got {d.shape}")
    return d


def max8(dst: Any, src: Any, name: str | None = None) -> None:
    """The 8 largest values per partition, descending."""
    api = "max8"
    x, p, f = _search_src(api, src)
    d = _dst8(api, dst, p)
    v = x._read_f32().reshape(p, f)
    top = -np.sort(-v, axis=1)[:, :8]
    c.record(api, "vector")
    d._write(top)


def _vals8(api: str, vals: Any, p: int) -> np.ndarray:
    t = c.onchip_operand(api, "vals", vals)
    if t.shape[0] != p or c.free_size(t) != 8:
        raise NkiValidationError(f"{api}: vals must have {p} partitions x 8 elements, got {t.shape}")
    return t._read_f32().reshape(p, 8)


def _index_dtype(api: str, d: Any) -> None:
    if d.dtype not in ("uint16", "uint32"):
        raise NkiValidationError(f"{api}: index output must be uint16 or uint32, got {d.dtype}")


def nc_find_index8(dst: Any, data: Any, vals: Any, name: str | None = None) -> None:
    """Index of the first occurrence of each of the 8 values, per partition."""
    api = "nc_find_index8"
    x, p, f = _search_src(api, data)
    d = _dst8(api, dst, p)
    _index_dtype(api, d)
    v = x._read_f32().reshape(p, f)
    want = _vals8(api, vals, p)
    hit = v[:, None, :] == want[:, :, None]
    idx = np.where(hit.any(axis=2), hit.argmax(axis=2), 0)  # undefined when absent; 0 here
    c.record(api, "vector")
    d._write(idx)


def nc_match_replace8(dst: Any, data: Any, vals: Any, imm: float, dst_idx: Any = None, name: str | None = None) -> None:
    """Replace the first occurrence of each of the 8 values with imm (repeated values hit later occurrences)."""
    api = "nc_match_replace8"
    x, p, f = _search_src(api, data)
    d = c.onchip_operand(api, "dst", dst)
    c.same_layout(api, "data", x, "dst", d)
    di = _dst8(api, dst_idx, p, "dst_idx") if dst_idx is not None else None
    if di is not None:
        _index_dtype(api, di)
    v = x._read_f32().reshape(p, f).copy()
    want = _vals8(api, vals, p)
    taken = np.zeros((p, f), dtype=bool)
    idx = np.zeros((p, 8), dtype=np.int64)
    rows = np.arange(p)
    for k in range(8):  # 8 steps, each vectorised over partitions and elements
        hit = (v == want[:, k : k + 1]) & ~taken
        pos = hit.argmax(axis=1)
        found = hit[rows, pos]
        taken[rows[found], pos[found]] = True
        idx[:, k] = pos
    v[taken] = np.float32(imm)
    c.record(api, "vector")
    d._write(v.reshape(d.shape))
    if di is not None:
        di._write(idx)


__all__ = [
    "tensor_reduce",
    "tensor_partition_reduce",
    "tensor_tensor_scan",
    "tensor_scalar_reduce",
    "tensor_scalar_cumulative",
    "bn_stats",
    "bn_aggr",
    "max8",
    "nc_find_index8",
    "nc_match_replace8",
]
