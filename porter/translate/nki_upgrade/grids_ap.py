"""Legacy grid subscripts that no slice can express, turned into access patterns (`NkiTensor.ap`).

A legacy index may combine several grid axes in one tensor dim (`t[ip, pool * i1 + i2]`, a pooling
window; `t[ip, i_f2 * n1 + i_f1]`, a flattening transpose) or scale an axis by a variable. The legacy
result has one dim per grid axis, in grid order, and element [a0, a1, ...] reads
`t[e0(a), e1(a), ...]`. Every e_k is linear in the axes, so the element offset is
`sum_axis (sum_k coeff_k,axis * t.strides[k]) * axis + sum_k const_k * t.strides[k]`: exactly the
`[[stride, count], ...]` pattern and `offset` that `t.ap(...)` takes (NKI 0.8: relative to the view's
first element, strides in elements, the same units as `t.strides`).

The partition dim of an on-chip tile cannot be mixed with free dims by an access pattern, so a tile
subscript must index its dim 0 with the grid's first axis alone (coefficient 1); HBM tensors
(kernel arguments) are addressed freely, as a DMA does.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from porter.translate.nki_upgrade import grids
from porter.translate.nki_upgrade.grids import Axis, Untranslatable, add, scale_code, sub
from porter.translate.nki_upgrade.names import code


@dataclass(frozen=True)
class Linear:
    """sum(coeff * axis) + const; coefficients and const are code."""

    terms: tuple[tuple[Axis, str], ...]
    const: str

    def coeff(self, axis: Axis) -> str:
        return next((k for a, k in self.terms if a == axis), "0")


def _combine(a: Linear, b: Linear, sign: int) -> Linear:
    terms = dict(a.terms)
    for axis, k in b.terms:
        k = k if sign == 1 else grids.neg(k)
        terms[axis] = add(terms[axis], k) if axis in terms else k
    const = add(a.const, b.const) if sign == 1 else sub(a.const, b.const)
    return Linear(tuple((ax, k) for ax, k in terms.items() if k != "0"), const)


def _scale(a: Linear, k: str) -> Linear:
    return Linear(tuple((ax, scale_code(k, c)) for ax, c in a.terms), scale_code(k, a.const))


def linear(scope: grids.GridScope, node: cst.BaseExpression) -> Linear:
    """The expression as a linear form over grid axes; Untranslatable when it is not one."""
    if not scope.contains_grid(node):
        return Linear((), code(node))
    if isinstance(node, cst.Name) and node.value in scope.linear:
        return scope.linear[node.value]
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, (cst.Add, cst.Subtract)):
            return _combine(linear(scope, node.left), linear(scope, node.right),
                            1 if isinstance(node.operator, cst.Add) else -1)
        if isinstance(node.operator, cst.Multiply):
            for grid_side, other in ((node.left, node.right), (node.right, node.left)):
                if not scope.contains_grid(other):
                    return _scale(linear(scope, grid_side), code(other))
            raise Untranslatable("an index multiplies two grid axes")
        raise Untranslatable(f"operator {type(node.operator).__name__} on a grid axis")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return _scale(linear(scope, node.expression), "-1")
    aff = scope.affine(node)  # a grid name, an mgrid field or an nl.arange: one axis
    if aff.axis is None:
        return Linear((), aff.const)
    return Linear(((aff.axis, str(aff.coeff)),), aff.const)  # axes count positions from 0


def _simple(node: cst.BaseExpression) -> bool:
    """A tensor expression cheap and safe to repeat (`t`, `self.t`, `t[i]`, `t[i][j]`)."""
    if isinstance(node, (cst.Name, cst.Attribute)):
        return True
    if isinstance(node, cst.Subscript):
        return _simple(node.value) and all(
            isinstance(e.slice, cst.Index) and isinstance(e.slice.value, (cst.Name, cst.Integer))
            for e in node.slice)
    return False


def _base_name(node: cst.BaseExpression) -> str | None:
    while isinstance(node, cst.Subscript):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def translate_ap(scope: grids.GridScope, node: cst.Subscript, bounds: grids.Bounds | None,
                 tiles: set[str]) -> cst.BaseExpression:
    """`t[<linear grid indices>]` -> `t.ap([[stride, count], ...], offset=...)`, one entry per grid axis."""
    if not _simple(node.value):
        raise Untranslatable("an access pattern needs a plain tensor name")
    tensor = code(node.value)
    forms: list[Linear] = []
    for e in node.slice:
        if not isinstance(e.slice, cst.Index):
            raise Untranslatable("grid indices mixed with slices")
        forms.append(linear(scope, e.slice.value))
    axes = {ax for f in forms for ax, _ in f.terms}
    if not axes:
        raise Untranslatable("no grid axis in the index")
    by_pos: dict[int, Axis] = {}
    for ax in axes:
        if by_pos.setdefault(ax.position, ax) != ax:
            raise Untranslatable("two index grids share an axis position")
    ndim = max(ax.ndim for ax in axes)
    onchip = _base_name(node.value) in tiles
    first = by_pos.get(0)
    if onchip and (first is None or forms[0].terms != ((first, "1"),)
                   or any(f.coeff(first) != "0" for f in forms[1:])):
        raise Untranslatable("an on-chip tile's partition dim is indexed by more than the grid's first axis")
    strides = [f"{tensor}.strides[{k}]" for k in range(len(forms))]
    offset = "0"
    for k, f in enumerate(forms):
        offset = add(offset, scale_code(f.const, strides[k]))
    pattern = []
    for pos in range(ndim):
        ax = by_pos.get(pos)
        if ax is None:
            if pos == 0:
                raise Untranslatable("the grid's first axis is not used")
            pattern.append("[0, 1]")  # an unused grid axis is a dim of extent 1 in the legacy result
            continue
        stride = "0"
        for k, f in enumerate(forms):
            stride = add(stride, scale_code(f.coeff(ax), strides[k]))
        lo, hi = grids._range_of(ax, bounds)
        count = sub(hi, lo) if lo != "0" else hi
        offset = add(offset, scale_code(lo, grids._paren(stride)))
        pattern.append(f"[{stride}, {count}]")
    args = f"[{', '.join(pattern)}]" + ("" if offset == "0" else f", offset={offset}")
    return cst.parse_expression(f"{tensor}.ap({args})")


__all__ = ["Linear", "linear", "translate_ap"]
