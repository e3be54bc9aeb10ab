"""Legacy `nisa.iota(expr, dtype)` of an index-grid expression -> the NKI 0.8 form with `dst=`.

Legacy iota filled a tile shaped like the grid with the values of an expression over the grid axes
(`nisa.iota(tile_start + i_p, dtype=nl.int32)` with `i_p = nl.arange(128)[:, None]`: a (128, 1) tile;
`nisa.iota(3 * g.y + g.z, dtype=nl.uint32)` with `g = nl.mgrid[0:p, 0:a, 0:b, 0:c]`: a (p, a, b, c)
tile, an mgrid field spanning the whole grid). The current iota writes
`dst[p, i1, i2, ...] = offset + p * channel_multiplier + sum(i_k * step_k)` over a pattern of one
`[step, count]` pair per free dim (neuron-facts 4.7, the SDK isa stub). An expression linear in the
axes maps onto it exactly: the partition axis' coefficient is the channel multiplier, each free axis
gives `[its coefficient, its extent]` (0 for an axis the expression does not use), the rest is the
offset. Anything else (a product of axes, a 1-d grid, `mask=`, more than four free dims) is marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.grids import Axis, GridScope, Untranslatable
from porter.translate.nki_upgrade.grids_ap import linear
from porter.translate.nki_upgrade.names import arg, call_name, code

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

RULE = "NRN706"


def grid_tile_shape(axes: list[Axis]) -> list[str]:
    """The legacy tile's shape: an mgrid's extents, or one arange extent per position (1 elsewhere)."""
    dense = {a.dense for a in axes if a.dense}
    if dense:
        if len(dense) > 1 or len({a.grid for a in axes}) > 1:
            raise Untranslatable("the expression mixes index grids")
        return list(dense.pop())
    ndim = max(a.ndim for a in axes)
    shape = ["1"] * ndim
    for a in axes:
        if shape[a.position] != "1" and shape[a.position] != a.size:
            raise Untranslatable("two grid axes share a position")
        shape[a.position] = a.size
    return shape


def plan(scope: GridScope, expr: cst.BaseExpression) -> tuple[list[str], str, list[list[str]], str]:
    """(dst shape, channel_multiplier, pattern, offset) as code."""
    form = linear(scope, expr)
    axes = [a for a, _ in form.terms]
    if not axes:
        raise Untranslatable("the expression uses no grid axis")
    shape = grid_tile_shape(axes)
    if len(shape) < 2:
        raise Untranslatable("a 1-d grid has no free dim")
    if len(shape) > 5:
        raise Untranslatable("iota patterns have at most four free dims")
    coeff = {a.position: k for a, k in form.terms}
    pattern = [[coeff.get(pos, "0"), shape[pos]] for pos in range(1, len(shape))]
    return shape, coeff.get(0, "0"), pattern, form.const


class Iota(cst.CSTTransformer):
    """Rewrites one statement's legacy grid iota calls; the tile goes to a temporary (like hoist.py)."""

    def __init__(self, up: Upgrader) -> None:
        self.up = up

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        up = self.up
        if call_name(original, up.aliases) != "nki.isa.iota" or arg(updated, "dst") is not None:
            return updated
        expr, dtype = arg(updated, "expr", 0), arg(updated, "dtype", 1)
        if expr is None or not up.scope.contains_grid(expr.value):
            return updated
        try:
            if dtype is None:
                raise Untranslatable("no dtype")
            if arg(updated, "mask") is not None:
                raise Untranslatable("mask=")
            shape, channel, pattern, offset = plan(up.scope, expr.value)
        except Untranslatable as exc:
            up._mark(RULE, f"legacy nisa.iota of an index-grid expression not translated ({exc}); write "
                           "nisa.iota(dst=..., pattern=[[step, count], ...], offset=..., channel_multiplier=...)")
            return updated
        tmp = up.temp()
        alloc = cst.parse_expression(
            f"{up.nl}.ndarray(({', '.join(shape)}), dtype={code(dtype.value)}, buffer={up.nl}.sbuf)")
        pairs = ", ".join(f"[{step}, {count}]" for step, count in pattern)
        call = cst.parse_expression(f"{up.nisa}.iota(dst={tmp}, pattern=[{pairs}], offset={offset}, "
                                    f"channel_multiplier={channel})")
        up.hoisted[tmp] = (alloc, call)
        up.pending_before.append(cst.SimpleStatementLine(body=[cst.Assign(
            targets=[cst.AssignTarget(cst.Name(tmp))], value=alloc)]))
        up.pending_before.append(cst.SimpleStatementLine(body=[cst.Expr(call)]))
        up._note(RULE, "legacy nisa.iota of a grid expression -> dst= tile, pattern, offset, channel_multiplier")
        return cst.Name(tmp)
