"""Tile shapes known statically, for the masked-operand pass: which operands broadcast.

A legacy masked instruction on whole tiles (`nl.multiply(x, s, mask=(rows < n))`) becomes the same
instruction on the masked part of each operand (grid_rewrite._MaskedOperands). An operand of extent 1
along a masked axis is a broadcast operand there (a (P, 1) per-row scale next to a (P, F) tile, a
(1, F) bias): its one element serves every position of the axis, so it keeps that axis whole; the
mask's slice `:hi` or `lo:hi` would reach past it.

Shapes are code, per dim (`"128"`, `"w"`, `"1"`), None where the dim is not known. Known: a load of
an index grid (the grid's tile, masked or not) or of slices of known extent, an allocation with a
literal shape (`nl.ndarray/zeros/ones/full`; block dims before `nl.par_dim` are the blocks of a list
of tiles), an elementwise `nl`/`nisa` result (the operands' broadcast shape), a reduction with
`keepdims=True`, `nl.copy`/`nl.transpose`. A name bound twice to different shapes in a function is
not known (a loop-carried use may see either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade import grids
from porter.translate.nki_upgrade.names import arg, call_name, code, resolve

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

Shape = tuple  # tuple[str | None, ...]

_ALLOCATORS = {f"nki.language.{n}" for n in ("ndarray", "zeros", "ones", "full", "empty", "rand")}
# Elementwise: the result has the operands' broadcast shape (tile operands by position or keyword).
_ELEMENTWISE = {f"nki.language.{n}" for n in (
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "equal", "not_equal",
    "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "exp", "log", "sqrt", "rsqrt", "abs", "negative",
    "reciprocal", "sigmoid", "tanh", "relu", "gelu", "silu", "sin", "cos", "square", "sign", "floor",
    "ceil", "erf", "softplus", "mish", "where", "copy")} | {"nki.isa.tensor_tensor"}
_OPERAND_KEYWORDS = ("x", "y", "x1", "x2", "data1", "data2", "condition")
# nisa calls whose result has the shape of one operand: (keyword, position) of that operand.
_ISA_SAME_SHAPE = {"nki.isa.activation": ("data", 1), "nki.isa.tensor_copy": ("src", 0),
                   "nki.isa.tensor_scalar": ("data", 0), "nki.isa.reciprocal": ("data", 0)}
_REDUCTIONS = {f"nki.language.{n}" for n in ("sum", "max", "min", "prod", "mean", "all", "any", "var")}
_ARITHMETIC = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.Power)
_CONFLICT = ("?",)  # a name bound to different shapes


def _dims(value: cst.BaseExpression, aliases: dict[str, str]) -> tuple[list[str], int] | None:
    """(dims from the partition dim on, block dims in front) of a literal shape tuple."""
    if not isinstance(value, (cst.Tuple, cst.List)):
        return None
    dims, blocks = [], 0
    for k, el in enumerate(value.elements):
        if isinstance(el, cst.StarredElement):  # `(*a.shape,)`: the rank is not known here
            return None
        v = el.value
        if call_name(v, aliases) == "nki.language.par_dim":
            inner = arg(v, "dim", 0)
            if inner is None:
                return None
            blocks, v = k, inner.value
        dims.append(code(v))
    return dims[blocks:], blocks


def _slice_extents(scope: grids.GridScope, sub: cst.Subscript) -> Shape | None:
    """Extents of `a[s0:s0 + 1, 0:w]`-style slices (an integer index drops its dim)."""
    out: list[str | None] = []
    for e in sub.slice:
        s = e.slice
        if isinstance(s, cst.Index):
            if scope.contains_grid(s.value) or isinstance(s.value, cst.Ellipsis):
                return None
            continue
        if s.step is not None or s.upper is None:
            out.append(None)
            continue
        start = code(s.lower) if s.lower is not None else "0"
        stop = code(s.upper)
        if stop.startswith(f"{start} + "):
            out.append(stop[len(start) + 3:])
        elif start == "0":
            out.append(stop)
        else:
            out.append(None)
    return tuple(out) if out else None


def broadcast(shapes: list[Shape]) -> Shape | None:
    """NumPy broadcasting of known shapes (same rank); a dim unknown when the operands disagree."""
    if not shapes or len({len(s) for s in shapes}) != 1:
        return None
    out: list[str | None] = []
    for dims in zip(*shapes, strict=True):
        wide = {d for d in dims if d != "1"}
        if None in wide or len(wide) > 1:
            out.append(None)
        else:
            out.append(wide.pop() if wide else "1")
    return tuple(out)


class Shapes:
    """Per function: name -> (shape, block dims); looked up by operand expression."""

    def __init__(self, parent: Shapes | None = None, params: list[str] = ()) -> None:
        self.known: dict[str, tuple[Shape, int]] = dict(parent.known) if parent is not None else {}
        for name in params:  # a parameter hides the outer name
            self.known.pop(name, None)
        self.bound: set[str] = set()  # names bound in this function (a second binding may conflict)

    def bind(self, name: str, shape: Shape | None, blocks: int = 0) -> None:
        entry = (shape, blocks) if shape is not None else (_CONFLICT, 0)
        if name in self.bound and self.known.get(name) != entry:
            entry = (_CONFLICT, 0)
        self.bound.add(name)
        self.known[name] = entry

    def of(self, node: cst.BaseExpression) -> Shape | None:
        """The shape of a tile operand: `t`, or one block `t[b]` of a list of tiles."""
        blocks = 0
        while isinstance(node, cst.Subscript) and all(isinstance(e.slice, cst.Index) for e in node.slice):
            blocks += len(node.slice)
            node = node.value
        if not isinstance(node, cst.Name):
            return None
        shape, k = self.known.get(node.value, (None, 0))
        if shape is None or shape is _CONFLICT or k != blocks:
            return None
        return shape


def shape_of(up: Upgrader, value: cst.BaseExpression) -> tuple[Shape, int] | None:
    """(shape, block dims) of the tile an assigned value makes, when it is known statically."""
    name = call_name(value, up.aliases) or ""
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, _ARITHMETIC):
        return _elementwise(up, [value.left, value.right])
    if not isinstance(value, cst.Call):
        return None
    if isinstance(value.func, cst.Attribute) and value.func.attr.value == "broadcast_to" and not name:
        target = arg(value, "shape", 0)  # legacy `tile.broadcast_to((P, F))`
        dims = _dims(target.value, up.aliases) if target is not None else None
        return (tuple(dims[0]), 0) if dims is not None and dims[1] == 0 else None
    if name == "nki.language.broadcast_to":
        target = arg(value, "shape", 1)
        dims = _dims(target.value, up.aliases) if target is not None else None
        return (tuple(dims[0]), 0) if dims is not None and dims[1] == 0 else None
    if name == "nki.language.load":
        src = arg(value, "src", 0)
        if src is None or not isinstance(src.value, cst.Subscript):
            return None
        if up.scope.contains_grid(src.value):
            from porter.translate.nki_upgrade.masked_load import grid_shape

            try:
                return tuple(grid_shape(up.scope, src.value)), 0
            except grids.Untranslatable:
                return None
        extents = _slice_extents(up.scope, src.value)
        return (extents, 0) if extents is not None else None
    if name in _ALLOCATORS:
        shape = arg(value, "shape", 0)
        dims = _dims(shape.value, up.aliases) if shape is not None else None
        return (tuple(dims[0]), dims[1]) if dims is not None else None
    if name in _ISA_SAME_SHAPE:
        data = arg(value, *_ISA_SAME_SHAPE[name])
        s = _operand(up, data.value) if data is not None else None
        return (s, 0) if s is not None else None
    if name in _ELEMENTWISE:
        return _elementwise(up, [a.value for a in value.args
                                 if a.keyword is None or a.keyword.value in _OPERAND_KEYWORDS])
    if name in _REDUCTIONS or name == "nki.isa.tensor_reduce":
        keep = arg(value, "keepdims")
        if keep is None or code(keep.value) != "True":
            return None
        data = arg(value, "data", 1) if name == "nki.isa.tensor_reduce" else arg(value, "x", 0)
        axis = arg(value, "axis", 2 if name == "nki.isa.tensor_reduce" else 1)
        s = _operand(up, data.value) if data is not None else None
        if s is None or axis is None:
            return None
        axes = _ints(axis.value)
        if axes is None or any(not -len(s) <= a < len(s) for a in axes):
            return None
        reduced = {a % len(s) for a in axes}
        return tuple("1" if k in reduced else d for k, d in enumerate(s)), 0
    if name == "nki.language.transpose":
        x = arg(value, "x", 0)
        s = _operand(up, x.value) if x is not None else None
        return ((s[1], s[0]), 0) if s is not None and len(s) == 2 else None
    return None


def _operand(up: Upgrader, node: cst.BaseExpression) -> Shape | None:
    """A named tile's shape, or the shape a nested call / arithmetic makes (`nl.max(nl.load(a[g]), ...)`)."""
    s = up.shapes[-1].of(node)
    if s is None and isinstance(node, (cst.Call, cst.BinaryOperation)):
        s = (shape_of(up, node) or (None, 0))[0]
    return s


def _elementwise(up: Upgrader, operands: list[cst.BaseExpression]) -> tuple[Shape, int] | None:
    """The broadcast shape of tile operands next to number literals; None if any operand is unknown."""
    known = []
    for v in operands:
        if (resolve(v, up.aliases) or "").startswith("nki."):
            continue  # `op=nl.add` given by position (nisa.tensor_tensor)
        s = _operand(up, v)
        if s is None and not isinstance(v, (cst.Integer, cst.Float)):
            return None  # a tile of unknown shape, or a name that may be one
        if s is not None:
            known.append(s)
    b = broadcast(known)
    return (b, 0) if b is not None else None


def _ints(node: cst.BaseExpression) -> list[int] | None:
    if isinstance(node, cst.Integer):
        return [int(node.value)]
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _ints(node.expression)
        return [-v for v in inner] if inner is not None and len(inner) == 1 else None
    if isinstance(node, (cst.Tuple, cst.List)):
        out = []
        for el in node.elements:
            v = _ints(el.value)
            if v is None or len(v) != 1:
                return None
            out.extend(v)
        return out
    return None
