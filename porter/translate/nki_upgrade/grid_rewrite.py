"""The statement pass for legacy index grids and masks: grid subscripts -> slices (or `.ap` views),
`mask=` folded into the slices, and grid predicates of `nisa.affine_select` -> its pattern form."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade import grids, grids_ap
from porter.translate.nki_upgrade.mask_slices import narrow
from porter.translate.nki_upgrade.masked_load import whole_tile
from porter.translate.nki_upgrade.names import arg, call_name, code
from porter.translate.nki_upgrade.tile_shapes import Shapes

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

GRID = "NRN707"  # the marker id of grids and masks (transform.GRID, rules/nki.toml)


def translate_grids(up: Upgrader, stmt: cst.SimpleStatementLine) -> tuple[cst.SimpleStatementLine, list[str]]:
    """One statement with its grids and masks as slices, and the mask conditions known only at
    specialisation (the caller wraps the statement in an `if` on them). Raises grids.Untranslatable."""
    scope = up.scope
    masks = MaskFinder(up.aliases)
    stmt.visit(masks)
    if not masks.found and not scope.contains_grid(stmt):
        return stmt, []
    bounds = grids.Bounds()
    for mask in masks.found:
        grids.mask_bounds(scope, mask, bounds)
    rewriter = _GridRewriter(scope, bounds, up.aliases, up.tiles[-1])
    new = stmt.visit(rewriter)
    operands = _MaskedOperands(_axis_ranges(bounds), up.tiles[-1], up.aliases, up.shapes[-1], _axis_sizes(bounds))
    if masks.found:
        new = new.visit(operands)
    if rewriter.failed:
        raise grids.Untranslatable(rewriter.failed)
    if (bounds.lower or bounds.upper) and not (rewriter.count or rewriter.narrowed or operands.sliced):
        # Dropping the mask would silently widen the instruction (`nl.load(view, mask=m)` with the
        # grid subscript held in a name): nothing here can carry the bounds.
        raise grids.Untranslatable("mask= bounds grid axes that no index or tile operand of this statement uses")
    if scope.contains_grid(new):
        raise grids.Untranslatable("an index grid is used outside a subscript")
    if masks.found:
        up._note(GRID, "mask= folded into the slices")
        new = whole_tile(up, stmt, new, _axis_ranges(bounds))  # a masked load keeps the grid's tile
    if rewriter.count:
        up._note(GRID, "index grid -> slices")
    return new, bounds.static


def _axis_ranges(bounds: grids.Bounds) -> dict[int, tuple[str, str]]:
    """Mask ranges by tile dim: {position: (lo, hi)} for the axes the mask bounds."""
    out = {}
    for axis in {*bounds.lower, *bounds.upper}:
        out[axis.position] = grids._range_of(axis, bounds)
    return out


def _axis_sizes(bounds: grids.Bounds) -> dict[int, str]:
    """The grid's extent by tile dim, for the axes the mask bounds."""
    return {axis.position: axis.size for axis in {*bounds.lower, *bounds.upper}}


def _whole_tile(node: cst.BaseExpression, tiles: set[str]) -> bool:
    """A tile named whole: `t`, or one block of a block-dim tile, `t[b]` (integer indices only)."""
    if isinstance(node, cst.Name):
        return node.value in tiles
    return (isinstance(node, cst.Subscript) and _whole_tile(node.value, tiles)
            and all(isinstance(e.slice, cst.Index) and not isinstance(e.slice.value, (cst.Ellipsis, cst.Comparison))
                    for e in node.slice) and isinstance(node.value, cst.Name))


class _MaskedOperands(cst.CSTTransformer):
    """A masked instruction on whole tiles works on the masked rows only: slice its tile operands.

    `out[...] = nl.multiply(t, w, mask=(i * 128 + ix < n))` -> `out[0:hi] = nl.multiply(t[0:hi], w[0:hi])`
    (a tile already cut to hi rows by a masked load is unchanged by the slice).

    An operand whose known shape has extent 1 along a masked axis of a wider grid is broadcast along
    it (a (P, 1) per-row scale, a (1, F) bias): that axis stays whole, `s[:hi, :]`, and an operand
    broadcast along every masked axis is left as it is (slicing it like the grid reached past its
    one element: IndexError on the simulator, an out-of-bounds access on the device).
    """

    def __init__(self, ranges: dict[int, tuple[str, str]], tiles: set[str], aliases: dict[str, str],
                 shapes: Shapes | None = None, sizes: dict[int, str] | None = None) -> None:
        self.ranges = ranges
        self.tiles = tiles
        self.aliases = aliases
        self.shapes = shapes
        self.sizes = sizes or {}
        self.sliced = 0

    def _slices(self, shape: tuple | None = None) -> str | None:
        """The operand's slices; None when it is broadcast along every masked axis."""
        dims = max(self.ranges) + 1 if self.ranges else 0
        parts = []
        bounded = False
        for d in range(dims):
            lo, hi = self.ranges.get(d, ("", ""))
            if (d in self.ranges and shape is not None and d < len(shape) and shape[d] == "1"
                    and self.sizes.get(d) != "1"):
                parts.append(":")  # broadcast along d: its one element serves the whole axis
                continue
            bounded |= d in self.ranges
            parts.append(f"{'' if lo == '0' else lo}:{hi}")
        return ", ".join(parts) if bounded else None

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if not self.ranges or not _whole_tile(updated.value, self.tiles):
            return updated
        if updated.keyword is not None and updated.keyword.value in ("dtype", "axis", "op", "mask"):
            return updated
        shape = self.shapes.of(original.value) if self.shapes is not None else None
        slices = self._slices(shape)
        if slices is None:
            return updated
        self.sliced += 1
        return updated.with_changes(value=cst.parse_expression(f"{code(updated.value)}[{slices}]"))

    def leave_AssignTarget(self, original: cst.AssignTarget, updated: cst.AssignTarget) -> cst.AssignTarget:
        t = updated.target
        if (self.ranges and isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name)
                and len(t.slice) == 1 and isinstance(t.slice[0].slice, cst.Index)
                and isinstance(t.slice[0].slice.value, cst.Ellipsis)):
            self.sliced += 1
            return updated.with_changes(target=cst.parse_expression(f"{t.value.value}[{self._slices()}]"))
        return updated


class AffineSelect(cst.CSTTransformer):
    """Legacy `nisa.affine_select(pred, on_true_tile, on_false_value)` with a predicate over the index
    grid -> the current form: the predicate as `pattern`, `channel_multiplier`, `offset`, `cmp_op`."""

    def __init__(self, up: Upgrader) -> None:
        self.up = up

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if call_name(original, self.up.aliases) != "nki.isa.affine_select" or arg(updated, "dst") is not None:
            return updated
        pred = arg(updated, "pred", 0)
        true_tile = arg(updated, "on_true_tile", 1)
        false_value = arg(updated, "on_false_value", 2)
        if pred is None or true_tile is None or false_value is None:
            return updated
        try:
            cp, step, offset, op, free = grids.affine_predicate(self.up.scope, pred.value)
        except grids.Untranslatable as exc:
            self.up._mark(GRID, f"legacy affine_select predicate not translated ({exc})")
            return updated
        count = free.size if free is not None else f"{code(true_tile.value)}.shape[1]"
        on_true = code(true_tile.value)
        base = true_tile.value
        while isinstance(base, cst.Subscript):
            base = base.value
        if isinstance(base, cst.Name) and base.value in (self.up.psum_names | self.up.psum_allocs):
            # affine_select runs on GpSimd, which cannot read PSUM: the legacy compiler copied the
            # operand to SBUF, the current API needs the copy written out.
            on_true = f"{self.up.nl}.copy({on_true})"
            self.up._note(GRID, "PSUM operand of affine_select copied to SBUF (nl.copy)")
        # The other keywords (`dtype=`, `mask=`, ...) stay: the grid pass that follows folds `mask=`
        # into the slices or an `if` (dropping it applied the select to every tile).
        rest = "".join(f", {a.keyword.value}={code(a.value)}" for a in updated.args
                       if a.keyword is not None and a.keyword.value not in ("pred", "on_true_tile", "on_false_value"))
        text = (f"{self.up.nisa}.affine_select(pattern=[[{step}, {count}]], channel_multiplier={cp}, "
                f"on_true_tile={on_true}, on_false_value={code(false_value.value)}, "
                f"cmp_op={self.up.nl}.{op}, offset={offset}{rest})")
        self.up._note(GRID, "legacy affine_select predicate -> pattern / channel_multiplier / offset")
        return cst.parse_expression(text)


class MaskFinder(cst.CSTVisitor):
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.found: list[cst.BaseExpression] = []

    def visit_Call(self, node: cst.Call) -> None:
        name = call_name(node, self.aliases) or ""
        if not name.startswith("nki."):
            return
        m = arg(node, "mask")
        if m is not None:
            self.found.append(m.value)


class _GridRewriter(cst.CSTTransformer):
    """Grid subscripts -> slices; `mask=` keywords removed; operand masks `t[...][cond]` folded."""

    def __init__(self, scope: grids.GridScope, bounds: grids.Bounds, aliases: dict[str, str],
                 tiles: set[str]) -> None:
        self.scope = scope
        self.bounds = bounds
        self.aliases = aliases
        self.tiles = tiles
        self.failed = ""
        self.count = 0
        self.ranges = _axis_ranges(bounds)
        self.narrowed = 0  # slice subscripts the mask narrowed (mask_slices)
        self.patterns: set[int] = set()  # `.ap(...)` views made here (an assignment target gets `[...]`)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        name = call_name(original, self.aliases) or ""
        if name.startswith("nki.") and arg(updated, "mask") is not None:
            args = [a for a in updated.args if not (a.keyword is not None and a.keyword.value == "mask")]
            if args:
                args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(args=args)
        return updated

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        if self.failed:
            return updated
        # Operand masking: `x[grid...][cond]` -> the condition bounds x's grid axes.
        if (len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index)
                and isinstance(original.value, cst.Subscript)
                and isinstance(updated.slice[0].slice.value, (cst.Comparison, cst.BinaryOperation))
                and self.scope.contains_grid(updated.slice[0].slice.value)):
            try:
                local = grids.mask_bounds(self.scope, updated.slice[0].slice.value)
                inner = grids.translate_index(self.scope, original.value, _merge(self.bounds, local))
            except grids.Untranslatable as exc:
                self.failed = str(exc)
                return updated
            self.count += 1
            return inner
        if not any(isinstance(e.slice, cst.Index) and self.scope.contains_grid(e.slice.value)
                   for e in updated.slice):
            narrowed = narrow(updated, self.ranges, self.aliases)
            if narrowed is None:
                return updated
            self.narrowed += 1
            return narrowed
        index_tiles = [e.slice.value.value for e in updated.slice if isinstance(e.slice, cst.Index)
                       and isinstance(e.slice.value, cst.Name) and e.slice.value.value in self.tiles]
        if index_tiles:
            # NxDI's own NKI 0.8 port of such a scatter (one row picked by a (1, 1) tile) uses scalar_offset=.
            self.failed = (f"an index is a tile (`{index_tiles[0]}`): an indirect (gather/scatter) access; write "
                           "it with .ap(..., vector_offset=<index tile>, indirect_dim=...), or "
                           "scalar_offset=<tile> when the tile holds a single index")
            return updated
        try:
            self.count += 1
            return grids.translate_index(self.scope, updated, self.bounds)
        except grids.Untranslatable as exc:
            try:  # no slice says it: an access pattern may (several axes in one dim, variable scales)
                view = grids_ap.translate_ap(self.scope, updated, self.bounds, self.tiles)
            except grids.Untranslatable:
                self.failed = str(exc)
                return updated
            self.patterns.add(id(view))
            return view

    def leave_AssignTarget(self, original: cst.AssignTarget, updated: cst.AssignTarget) -> cst.AssignTarget:
        if id(updated.target) in self.patterns:  # `t.ap(...) = x` is no Python: write through the view
            index = cst.SubscriptElement(cst.Index(cst.Ellipsis()))
            return updated.with_changes(target=cst.Subscript(value=updated.target, slice=[index]))
        return updated


def _merge(a: grids.Bounds, b: grids.Bounds) -> grids.Bounds:
    out = grids.Bounds({k: list(v) for k, v in a.lower.items()}, {k: list(v) for k, v in a.upper.items()},
                       list(a.static))
    for k, v in b.lower.items():
        out.lower.setdefault(k, []).extend(v)
    for k, v in b.upper.items():
        out.upper.setdefault(k, []).extend(v)
    out.static.extend(b.static)
    return out
