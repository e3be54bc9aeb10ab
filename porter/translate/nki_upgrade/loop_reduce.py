"""Legacy `nl.loop_reduce` written as the operation it stands for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.names import arg, code, resolve

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader


def loop_reduce(up: Upgrader, node: cst.Assign) -> cst.Assign:
    """`t = nl.loop_reduce(x, op=OP, loop_indices=..., dtype=D)` -> `t = OP(t, x, dtype=D)`.

    The NKI docs define loop_reduce so: the destination tile is also the rhs input of `op`, the same
    as `t = nisa.tensor_tensor(data1=t, data2=x, op=OP)` in every iteration; `loop_indices` only told
    the compiler which loops it may optimise across."""
    call = node.value
    x, op, dtype, mask = arg(call, "x", 0), arg(call, "op", 1), arg(call, "dtype"), arg(call, "mask")
    op_name = resolve(op.value, up.aliases) if op is not None else None
    if x is None or op_name is None or not op_name.startswith("nki.language."):
        up._mark("NRN709", "nl.loop_reduce with an operator porter cannot name; write t = op(t, x) in the loop")
        return node
    target = code(node.targets[0].target)
    extra = f", dtype={code(dtype.value)}" if dtype is not None else ""
    if mask is not None:  # kept for the mask pass of the statement (slices or an `if`)
        extra += f", mask={code(mask.value)}"
    up._note("NRN709", "t = nl.loop_reduce(x, op) -> t = op(t, x) (the documented equivalent)")
    return node.with_changes(value=cst.parse_expression(f"{code(op.value)}({target}, {code(x.value)}{extra})"))
