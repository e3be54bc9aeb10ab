"""ScalarE (ACT) instructions: activation, activation_reduce, activate2; VectorE exponential."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import context
from porter.nki.api import _common as c
from porter.nki.api.isa import _alu
from porter.nki.api.isa.enums import reduce_cmd as _cmd
from porter.nki.api.language import _math as m
from porter.nki.errors import NkiValidationError


def _cmd_name(cmd: Any) -> str:
    name = getattr(cmd, "name", cmd)
    if name not in ("idle", "reset", "reduce", "reset_reduce", "load_reduce"):
        raise NkiValidationError(f"unknown reduce_cmd {cmd!r}")
    return name


def _io(api: str, dst: Any, data: Any) -> tuple:
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "data", data)
    c.same_layout(api, "data", x, "dst", d)
    return d, x


def _reduce_res(api: str, reduce_res: Any, p: int) -> Any:
    if reduce_res is None:
        return None
    r = c.onchip_operand(api, "reduce_res", reduce_res)
    if r.shape[0] != p or c.free_size(r) != 1:
        raise NkiValidationError(f"{api}: reduce_res must have shape ({p}, 1), got {r.shape}")
    return r


def _pre(api: str, x: Any, scale: Any, bias: Any) -> np.ndarray:
    p = x.shape[0]
    sc = c.scalar_or_vector(api, "scale", scale, p, f32_only=True)
    if isinstance(bias, (int, float)) and not isinstance(bias, bool):
        c.require_version(f"{api}: scalar bias", 3)
    if getattr(bias, "dtype", None) == "tfloat32":
        raise NkiValidationError(f"{api}: bias cannot be tfloat32")
    bi = c.scalar_or_vector(api, "bias", bias, p)
    v = x._read_f32().reshape(p, -1)
    v = v * (np.float32(1.0) if sc is None else sc)
    if bi is not None:
        v = v + bi
    return v.astype(np.float32)


def activation(
    dst: Any,
    op: Any,
    data: Any,
    bias: Any = None,
    scale: Any = 1.0,
    reduce_op: Any = None,
    reduce_res: Any = None,
    reduce_cmd: Any = _cmd.idle,
    name: str | None = None,
) -> None:
    """dst = op(data * scale + bias); optional per-lane add-reduction into ScalarE registers."""
    api = "activation"
    d, x = _io(api, dst, data)
    p = x.shape[0]
    cmd = _cmd_name(reduce_cmd)
    if cmd == "load_reduce":
        raise NkiValidationError(f"{api}: reduce_cmd load_reduce is not valid for activation")
    if reduce_op is not None and not _alu.is_same(reduce_op, m.add):
        raise NkiValidationError(f"{api}: reduce_op must be nl.add")
    if cmd in ("reduce", "reset_reduce") and reduce_op is None:
        raise NkiValidationError(f"{api}: reduce_cmd={cmd} needs reduce_op=nl.add")
    rr = _reduce_res(api, reduce_res, p)
    out = _alu.unary(api, op, _pre(api, x, scale, bias))
    regs = context.current().act_regs
    if cmd in ("reset", "reset_reduce"):
        regs[:p] = 0.0
    if cmd in ("reduce", "reset_reduce"):
        regs[:p] += out.sum(axis=1, dtype=np.float32)
    c.record(api, "scalar")
    d._write(out.reshape(d.shape))
    if rr is not None:
        rr._write(regs[:p].reshape(rr.shape))


def activation_reduce(
    dst: Any,
    op: Any,
    data: Any,
    reduce_op: Any,
    reduce_res: Any,
    bias: Any = None,
    scale: Any = 1.0,
    name: str | None = None,
) -> None:
    """activation with reduce_cmd=reset_reduce and the reduction written to reduce_res."""
    api = "activation_reduce"
    d, x = _io(api, dst, data)
    p = x.shape[0]
    rr = _reduce_res(api, reduce_res, p)
    if rr is None:
        raise NkiValidationError(f"{api}: reduce_res is required")
    allowed = (m.add,) if c.version() == 2 else (m.add, m.maximum, m.minimum)
    if not any(_alu.is_same(reduce_op, a) for a in allowed):
        raise NkiValidationError(f"{api}: reduce_op must be one of {[a.__name__ for a in allowed]} on this target")
    out = _alu.unary(api, op, _pre(api, x, scale, bias))
    _, red_fn, _ = _alu.reducer(api, reduce_op, "reduce_op")
    red = np.asarray(red_fn(out, 1)).astype(np.float32)
    regs = context.current().act_regs
    regs[:p] = red
    c.record(api, "scalar")
    d._write(out.reshape(d.shape))
    rr._write(red.reshape(rr.shape))


def activate2(
    dst: Any,
    op: Any,
    data: Any,
    imm0: Any,
    imm1: Any,
    op0: Any,
    op1: Any,
    relu_param: Any = 0.0,
    reverse0: bool = False,
    reverse1: bool = False,
    reduce_op: Any = None,
    reduce_res: Any = None,
    reduce_cmd: Any = _cmd.idle,
    name: str | None = None,
) -> None:
    """NeuronCore-v4: dst = op((data op0 imm0) op1 imm1) with optional reduction."""
    api = "activate2"
    c.require_version(api, 4)
    d, x = _io(api, dst, data)
    p = x.shape[0]
    v = x._read_f32().reshape(p, -1)
    for o, imm, rev in ((op0, imm0, reverse0), (op1, imm1, reverse1)):
        if o is None or _alu.is_same(o, m.bypass):
            continue
        iv = c.scalar_or_vector(api, "imm", imm, p)
        v = _alu.binary(api, o, iv, v) if rev else _alu.binary(api, o, v, iv)
    if _alu.is_same(op, m.relu) and relu_param:
        rp = c.scalar_or_vector(api, "relu_param", relu_param, p)
        out = np.where(v >= 0, v, v * rp).astype(np.float32)
    else:
        out = _alu.unary(api, op, v)
    cmd = _cmd_name(reduce_cmd)
    rr = _reduce_res(api, reduce_res, p)
    regs = context.current().act_regs
    if cmd in ("reset", "reset_reduce", "reduce", "load_reduce"):
        if reduce_op is None:
            raise NkiValidationError(f"{api}: reduce_cmd={cmd} needs reduce_op")
        comb, red_fn, ident = _alu.reducer(api, reduce_op, "reduce_op")
        if cmd in ("reset", "reset_reduce"):
            regs[:p] = ident
        if cmd != "reset":
            regs[:p] = comb(regs[:p], red_fn(out, 1))
    c.record(api, "scalar")
    d._write(out.reshape(d.shape))
    if rr is not None:
        rr._write(regs[:p].reshape(rr.shape))


def exponential(
    dst: Any,
    src: Any,
    max_value: Any = 0.0,
    reduce_res: Any = None,
    reduce_cmd: Any = _cmd.idle,
    reduce_init: Any = 0.0,
    name: str | None = None,
) -> None:
    """NeuronCore-v4 VectorE: dst = exp(src - max_value), optional running sum in the accumulators."""
    api = "exponential"
    c.require_version(api, 4)
    d = c.onchip_operand(api, "dst", dst)
    x = c.onchip_operand(api, "src", src)
    c.same_layout(api, "src", x, "dst", d)
    p = x.shape[0]
    cmd = _cmd_name(reduce_cmd)
    if cmd == "reset":
        raise NkiValidationError(f"{api}: reduce_cmd reset is not supported")
    if cmd != "load_reduce" and reduce_init not in (None, 0, 0.0):
        raise NkiValidationError(f"{api}: reduce_init must be unset/0.0 unless reduce_cmd is load_reduce")
    mv = c.scalar_or_vector(api, "max_value", max_value, p)
    with np.errstate(all="ignore"):
        out = np.exp(x._read_f32().reshape(p, -1) - mv).astype(np.float32)
    regs = context.current().vec_regs
    if cmd == "reset_reduce":
        regs[:p] = 0.0
    elif cmd == "load_reduce":
        regs[:p] = np.asarray(c.scalar_or_vector(api, "reduce_init", reduce_init, p)).reshape(-1)
    if cmd != "idle":
        regs[:p] += out.sum(axis=1, dtype=np.float32)
    rr = _reduce_res(api, reduce_res, p)
    c.record(api, "vector")
    d._write(out.reshape(d.shape))
    if rr is not None:
        rr._write(regs[:p].reshape(rr.shape))
