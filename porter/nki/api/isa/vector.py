"""VectorE / GpSimd element-wise instructions."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.api.isa import _alu
from porter.nki.api.isa.enums import engine as _engine
from porter.nki.api.language import _math as m
from porter.nki.api.language import _ops as ops
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor


def _values(t: NkiTensor, bitvec: bool, exact_int: bool) -> np.ndarray:
    raw = t._read_raw().reshape(t.shape[0], -1)
    return raw.astype(np.int64) if (bitvec or exact_int) else dtypes.to_f32(raw)


def tensor_tensor(
    dst: Any, data1: Any, data2: Any, op: Any, engine: Any = _engine.unknown, name: str | None = None
) -> None:
    """dst = data1 <op> data2, element-wise; same partitions and elements per partition."""
    api = "tensor_tensor"
    d = c.onchip_operand(api, "dst", dst)
    a = c.onchip_operand(api, "data1", data1)
    b = c.onchip_operand(api, "data2", data2)
    c.same_layout(api, "data1", a, "data2", b)
    c.same_layout(api, "data1", a, "dst", d)
    c.not_both_psum(api, "data1", a, "data2", b)
    k = _alu.kind(api, op)
    if k == "unary":
        raise NkiValidationError(f"{api}: op={ops.op_name(op)} is unary; use nisa.activation or tensor_scalar")
    eng = c.engine_name(engine)
    is_power = _alu.is_same(op, m.power)
    any_psum = "psum" in (a.kind, b.kind, d.kind)
    all_i32 = all(t.dtype in ("int32", "uint32") for t in (a, b, d))
    if eng == "unknown":
        eng = "gpsimd" if is_power or (all_i32 and not any_psum) else "vector"
    if eng not in ("vector", "gpsimd"):
        raise NkiValidationError(f"{api}: engine must be vector or gpsimd, got {eng}")
    if is_power and eng != "gpsimd":
        raise NkiValidationError(f"{api}: nl.power runs on GpSimd only")
    if eng == "gpsimd" and any_psum:
        raise NkiValidationError(f"{api}: GpSimd cannot access PSUM (op {ops.op_name(op)})")
    if k == "bitvec":
        _alu.require_int(api, [("data1", a.dtype), ("data2", b.dtype), ("dst", d.dtype)])
    exact = all_i32 and eng == "gpsimd" and k == "arith" and not is_power
    av, bv = _values(a, k == "bitvec", exact), _values(b, k == "bitvec", exact)
    if exact:
        with np.errstate(all="ignore"):
            res = ops.BINARY[ops.resolve(op)](av, bv)
    else:
        res = _alu.binary(api, op, av, bv)
    c.record(api, eng)
    d._write(np.asarray(res).reshape(d.shape))


def _scalar_operand(api: str, what: str, value: Any, p: int, bitvec: bool) -> Any:
    if value is None:
        return None
    if bitvec:
        if isinstance(value, NkiTensor):
            return value._read_raw().astype(np.int64).reshape(p, 1)
        return np.int64(int(value))
    return c.scalar_or_vector(api, what, value, p, f32_only=True)


def _apply(api: str, op: Any, data: np.ndarray, operand: Any, reverse: bool, what: str) -> np.ndarray:
    k = _alu.kind(api, op, what)
    if k == "unary":
        if operand is not None and not (np.ndim(operand) == 0 and float(operand) == 0):
            raise NkiValidationError(f"{api}: {what}={ops.op_name(op)} is unary; its operand must be None or 0")
        return _alu.unary(api, op, data, what)
    if operand is None:
        raise NkiValidationError(f"{api}: {what}={ops.op_name(op)} needs an operand")
    return _alu.binary(api, op, operand, data, what) if reverse else _alu.binary(api, op, data, operand, what)


def tensor_scalar(
    dst: Any,
    data: Any,
    op0: Any,
    operand0: Any,
    reverse0: bool = False,
    op1: Any = None,
    operand1: Any = None,
    reverse1: bool = False,
    engine: Any = _engine.unknown,
    name: str | None = None,
) -> None:
    """dst = (data <op0> operand0) <op1> operand1 with scalar or (P, 1) operands."""
    api = "tensor_scalar"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    c.same_layout(api, "data", x, "dst", d)
    p = x.shape[0]
    if op1 is None and (operand1 is not None or reverse1):
        raise NkiValidationError(f"{api}: operand1/reverse1 given without op1")
    k0 = _alu.kind(api, op0, "op0")
    k1 = _alu.kind(api, op1, "op1") if op1 is not None else k0
    bitvec = k0 == "bitvec"
    if (k0 == "bitvec") != (k1 == "bitvec"):
        raise NkiValidationError(f"{api}: op0 and op1 must both be bitvec or both arithmetic")
    eng = c.engine_name(engine)
    if bitvec:
        _alu.require_int(api, [("data", x.dtype), ("dst", d.dtype)])
        if eng not in ("unknown", "vector"):
            raise NkiValidationError(f"{api}: bitvec operators run on the vector engine only")
        eng = "vector"
    if eng == "unknown":
        eng = "vector"
    if eng not in ("vector", "scalar", "gpsimd"):
        raise NkiValidationError(f"{api}: engine must be vector, scalar or gpsimd, got {eng}")
    if eng == "gpsimd" and ("psum" in (x.kind, d.kind)):
        raise NkiValidationError(f"{api}: GpSimd cannot access PSUM")
    if eng == "scalar" and c.version() == 3:
        combos = {("multiply", "add"), ("multiply", None), ("add", None)}
        key = (ops.resolve(op0).__name__, ops.resolve(op1).__name__ if op1 is not None else None)
        if key not in combos:
            raise NkiValidationError(f"{api}: scalar engine on trn2 supports only {sorted(combos, key=str)}, got {key}")
    o0 = _scalar_operand(api, "operand0", operand0, p, bitvec)
    o1 = _scalar_operand(api, "operand1", operand1, p, bitvec)
    v = _values(x, bitvec, False)
    v = _apply(api, op0, v, o0, reverse0, "op0")
    if op1 is not None:
        v = _apply(api, op1, v, o1, reverse1, "op1")
    c.record(api, eng)
    d._write(np.asarray(v).reshape(d.shape))


def scalar_tensor_tensor(
    dst: Any,
    data: Any,
    op0: Any,
    operand0: Any,
    op1: Any,
    operand1: Any,
    reverse0: bool = False,
    reverse1: bool = False,
    name: str | None = None,
) -> None:
    """dst = (data <op0> operand0) <op1> operand1, operand1 a full tile."""
    api = "scalar_tensor_tensor"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    t1 = c.onchip_operand(api, "operand1", operand1)
    c.same_layout(api, "data", x, "dst", d)
    c.same_layout(api, "data", x, "operand1", t1)
    c.not_both_psum(api, "data", x, "operand1", t1)
    for what, o in (("op0", op0), ("op1", op1)):
        if _alu.kind(api, o, what) != "arith":
            raise NkiValidationError(f"{api}: {what} must be an arithmetic operator")
    p = x.shape[0]
    o0 = c.scalar_or_vector(api, "operand0", operand0, p)
    v = _apply(api, op0, dtypes.to_f32(x._read_raw().reshape(p, -1)), o0, reverse0, "op0")
    w = t1._read_f32().reshape(p, -1)
    v = _alu.binary(api, op1, w, v, "op1") if reverse1 else _alu.binary(api, op1, v, w, "op1")
    c.record(api, "vector")
    d._write(v.reshape(d.shape))


def reciprocal(dst: Any, data: Any, name: str | None = None) -> None:
    api = "reciprocal"
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    c.same_layout(api, "data", x, "dst", d)
    c.record(api, "vector")
    d._write(ops.reciprocal(x._read_f32()).reshape(d.shape))
