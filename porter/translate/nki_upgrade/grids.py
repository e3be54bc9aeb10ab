"""Legacy index grids (`nl.arange(n)[:, None]`, `nl.mgrid[0:p, 0:f]`) and `mask=` turned into slices.

A legacy subscript `a[i * 128 + ix, iy]` with `ix = nl.arange(128)[:, None]` addresses a tile whose
dim k runs over grid axis k. Every index is affine in one grid axis, so it becomes a slice:
`a[i * 128:i * 128 + 128, 0:512]`. A `mask=` made of comparisons of such expressions (joined with
`&`) bounds the axes it names, and the bounds go into the slices: `mask=(i * 128 + ix < n)` gives
`a[i * 128:i * 128 + min(128, n - i * 128), ...]`. Comparisons that name no grid axis are
conditions known while the kernel is specialised and guard the statement with `if`. Anything else
(a non-affine index, a grid axis used out of order, a coefficient that is not an integer) raises
`Untranslatable` and the caller marks the statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from porter.translate.nki_upgrade.names import code, resolve


class Untranslatable(Exception):
    """The construct cannot be translated safely; the message goes into the marker."""


@dataclass(frozen=True)
class Axis:
    """One axis of an index grid: its position among `ndim` grid dims and its extent (code)."""

    grid: int
    position: int
    ndim: int
    size: str
    start: str = "0"
    dense: tuple[str, ...] = ()  # an mgrid's extents: each of its fields spans the whole grid


@dataclass(frozen=True)
class Affine:
    """coeff * axis + const (const is code); axis None for an expression without grid axes."""

    axis: Axis | None
    coeff: int
    const: str


def _paren(text: str) -> str:
    try:
        node = cst.parse_expression(text)
    except cst.ParserSyntaxError:
        return f"({text})"
    if isinstance(node, (cst.Name, cst.Integer, cst.Attribute, cst.Call, cst.Subscript)):
        return text
    return f"({text})"


def add(a: str, b: str) -> str:
    if a == "0":
        return b
    if b == "0":
        return a
    if b.startswith("-") and _paren(b[1:]) == b[1:]:
        return f"{a} - {b[1:]}"
    return f"{a} + {b}"


def sub(a: str, b: str) -> str:
    if b == "0":
        return a
    if a == "0":
        return neg(b)
    return f"{a} - {_paren(b)}"


def neg(a: str) -> str:
    if a == "0":
        return "0"
    if a.startswith("-") and _paren(a[1:]) == a[1:]:
        return a[1:]
    return f"-{_paren(a)}"


def mul(k: int, a: str) -> str:
    if k == 0 or a == "0":
        return "0"
    if k == 1:
        return a
    if k == -1:
        return neg(a)
    return f"{k} * {_paren(a)}"


def scale_code(a: str, b: str) -> str:
    if a == "0" or b == "0":
        return "0"
    if a == "1":
        return b
    if b == "1":
        return a
    return f"{_paren(a)} * {_paren(b)}"


def _int_literal(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        v = _int_literal(node.expression)
        return None if v is None else -v
    return None


@dataclass
class GridScope:
    """Grid axes known by name in one function (or the module), plus a counter for anonymous grids."""

    aliases: dict[str, str]
    names: dict[str, Affine] = field(default_factory=dict)
    next_grid: int = 0
    objects: dict[str, list[Axis]] = field(default_factory=dict)  # `g = nl.mgrid[...]`, read as g.p, g.x
    linear: dict = field(default_factory=dict)  # names linear in several axes (grids_ap.Linear)
    predicates: dict = field(default_factory=dict)  # `pred = q_pos >= k_pos`: name -> the comparison node
    # Control flow: the statement pass reads a grid name by its latest binding in source order, which
    # is the binding that reaches a use only when it dominates it. `suites` is the path of blocks being
    # visited; `where` the path of each name's latest binding; a name bound again, differently, inside a
    # block that may not run (`if windowed: pred = ...`) is `retired` when the block ends: after it,
    # either binding may hold. A `for` body runs (trace-time loops over non-empty ranges): not retired.
    suites: list = field(default_factory=list)
    where: dict = field(default_factory=dict)
    rebound: set = field(default_factory=set)
    texts: dict = field(default_factory=dict)  # name -> the code of its latest grid definition
    retired: set = field(default_factory=set)
    # contains_grid results by node (kept alive with the node, so ids are not reused) and names known.
    _cache: dict[int, tuple[cst.CSTNode, int, bool]] = field(default_factory=dict)

    def new_grid(self) -> int:
        self.next_grid += 1
        return self.next_grid

    def _bound(self, name: str, value: cst.BaseExpression) -> None:
        text = code(value)
        if name in self.retired or (name in self.texts and self.texts[name] != text):
            self.rebound.add(name)  # the same definition again (`i_f = nl.arange(d)[None, :]`) is no rebinding
        self.texts[name] = text
        self.where[name] = tuple(self.suites)
        self.retired.discard(name)

    def leave_suite(self, suite: int) -> None:
        """The block `suite` ends: a grid name rebound inside it no longer has one known binding."""
        for name, path in list(self.where.items()):
            if suite in path and name in self.rebound:
                for known in (self.names, self.objects, self.linear, self.predicates):
                    known.pop(name, None)
                self.retired.add(name)
                del self.where[name]
                self._cache.clear()

    # -- recognising grid definitions -------------------------------------------------------
    def arange_axis(self, node: cst.BaseExpression) -> Axis | None:
        """`nl.arange(n)[:, None]` (or `[None, :]`, 3-d forms, bare `nl.arange(n)`) -> its Axis."""
        if isinstance(node, cst.Subscript) and self._is(node.value, "arange"):
            call = node.value
            elems = node.slice
            colon = [i for i, e in enumerate(elems) if isinstance(e.slice, cst.Slice)]
            nones = [i for i, e in enumerate(elems)
                     if isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Name)
                     and e.slice.value.value == "None"]
            if len(colon) != 1 or len(colon) + len(nones) != len(elems):
                return None
            return self._arange(call, colon[0], len(elems))
        if self._is(node, "arange"):
            return self._arange(node, 0, 1)
        return None

    def _arange(self, call: cst.Call, position: int, ndim: int) -> Axis | None:
        args = [a for a in call.args if a.keyword is None]
        if len(args) == 1:
            start, size = "0", code(args[0].value)
        elif len(args) == 2:
            start, stop = code(args[0].value), code(args[1].value)
            size = sub(stop, start)
        else:
            return None
        return Axis(self.new_grid(), position, ndim, size, start)

    def _is(self, node: cst.BaseExpression, name: str) -> bool:
        return isinstance(node, cst.Call) and resolve(node.func, self.aliases) == f"nki.language.{name}"

    def mgrid_axes(self, node: cst.BaseExpression) -> list[Axis] | None:
        """`nl.mgrid[0:p, 0:f]` -> one Axis per slice."""
        if not (isinstance(node, cst.Subscript) and resolve(node.value, self.aliases) == "nki.language.mgrid"):
            return None
        grid = self.new_grid()
        spans = []
        for e in node.slice:
            s = e.slice
            if not isinstance(s, cst.Slice) or s.step is not None or s.upper is None:
                return None
            start = code(s.lower) if s.lower is not None else "0"
            spans.append((start, sub(code(s.upper), start)))
        dense = tuple(size for _, size in spans)
        return [Axis(grid, i, len(spans), size, start, dense) for i, (start, size) in enumerate(spans)]

    def learn(self, target: cst.BaseAssignTargetExpression, value: cst.BaseExpression) -> bool:
        """Record `ix = off + nl.arange(n)[:, None]` / `i_p, i_f = nl.mgrid[...]`; True when it was one."""
        if isinstance(target, (cst.Tuple, cst.List)):
            axes = self.mgrid_axes(value)
            if axes is None or len(axes) != len(target.elements):
                return False
            for el, axis in zip(target.elements, axes, strict=True):
                if isinstance(el.value, cst.Name):
                    self._bound(el.value.value, value)
                    self.names[el.value.value] = Affine(axis, 1, axis.start)
            self._cache.clear()
            return True
        if isinstance(target, cst.Name):
            axes = self.mgrid_axes(value)
            if axes is not None:
                self._bound(target.value, value)
                self.objects[target.value] = axes
                self._cache.clear()
                return True
        if not isinstance(target, cst.Name) or not self.contains_grid(value):
            return False
        if isinstance(value, cst.Comparison):  # a predicate over the grid, read by affine_select / mask=
            self._bound(target.value, value)
            self.predicates[target.value] = value
            self._cache.clear()
            return True
        try:
            aff = self.affine(value)
        except Untranslatable:
            # Several axes in one name (`i_dst = 2 * i_y + i_x`): an access pattern can still use it.
            from porter.translate.nki_upgrade.grids_ap import linear

            try:
                self.linear[target.value] = linear(self, value)
            except Untranslatable:
                return False
            self._bound(target.value, value)
            self.names.pop(target.value, None)
            self._cache.clear()
            return True
        if aff.axis is None:
            return False
        self._bound(target.value, value)
        self.names[target.value] = aff
        self.linear.pop(target.value, None)
        return True

    # -- affine analysis ----------------------------------------------------------------------
    def contains_grid(self, node: cst.CSTNode) -> bool:
        hit = self._cache.get(id(node))
        known = len(self.names) + len(self.objects) + len(self.linear) + len(self.predicates)
        if hit is not None and hit[0] is node and hit[1] == known:
            return hit[2]
        finder = _GridFinder(self)
        node.visit(finder)
        self._cache[id(node)] = (node, known, finder.found)
        return finder.found

    def affine(self, node: cst.BaseExpression) -> Affine:
        if not self.contains_grid(node):
            return Affine(None, 0, code(node))
        if isinstance(node, cst.Name) and node.value in self.names:
            return self.names[node.value]
        if isinstance(node, cst.Name) and node.value in self.retired:
            raise Untranslatable(_retired(node.value))
        if isinstance(node, cst.Name) and node.value in self.linear:
            raise Untranslatable(f"`{node.value}` combines several grid axes")
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value in self.objects:
            axes = self.objects[node.value.value]
            k = _MGRID_FIELDS.get(node.attr.value)
            if k is None or k >= len(axes):
                raise Untranslatable(f"unknown index grid field `{code(node)}`")
            return Affine(axes[k], 1, axes[k].start)
        axis = self.arange_axis(node)
        if axis is not None:
            return Affine(axis, 1, axis.start)
        if isinstance(node, cst.BinaryOperation):
            left, right = self.affine(node.left), self.affine(node.right)
            if isinstance(node.operator, (cst.Add, cst.Subtract)):
                if left.axis is not None and right.axis is not None:
                    raise Untranslatable("an index adds two grid axes")
                sign = 1 if isinstance(node.operator, cst.Add) else -1
                axis = left.axis or right.axis
                coeff = left.coeff if left.axis is not None else sign * right.coeff
                const = add(left.const, right.const) if sign == 1 else sub(left.const, right.const)
                return Affine(axis, coeff, const)
            if isinstance(node.operator, cst.Multiply):
                grid, other, other_node = (left, right, node.right) if left.axis else (right, left, node.left)
                if other.axis is not None:
                    raise Untranslatable("an index multiplies two grid axes")
                k = _int_literal(other_node)
                if k is None:
                    raise Untranslatable(f"grid axis scaled by a non-literal ({code(other_node)})")
                return Affine(grid.axis, grid.coeff * k, mul(k, grid.const))
            raise Untranslatable(f"operator {type(node.operator).__name__} on a grid axis")
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            inner = self.affine(node.expression)
            return Affine(inner.axis, -inner.coeff, neg(inner.const))
        raise Untranslatable(f"index expression `{code(node)}` is not affine in one grid axis")


_MGRID_FIELDS = {"p": 0, "x": 1, "y": 2, "z": 3}


def _retired(name: str) -> str:
    return (f"`{name}` is rebound inside an if/for block above, so which definition holds here is known "
            "only when the kernel runs; write this statement once per definition (inside each branch)")


class _GridFinder(cst.CSTVisitor):
    def __init__(self, scope: GridScope) -> None:
        self.scope = scope
        self.found = False

    def on_visit(self, node: cst.CSTNode) -> bool:
        return not self.found and super().on_visit(node)

    def visit_Name(self, node: cst.Name) -> None:
        scope = self.scope
        if (node.value in scope.names or node.value in scope.objects or node.value in scope.linear
                or node.value in scope.predicates or node.value in scope.retired):
            self.found = True

    def visit_Call(self, node: cst.Call) -> None:
        if resolve(node.func, self.scope.aliases) in ("nki.language.arange", "nki.language.mgrid"):
            self.found = True

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if resolve(node.value, self.scope.aliases) == "nki.language.mgrid":
            self.found = True


# -- masks ------------------------------------------------------------------------------------
@dataclass
class Bounds:
    """Per grid axis: extra lower bounds (max) and upper bounds (min, exclusive) from a mask."""

    lower: dict[Axis, list[str]] = field(default_factory=dict)
    upper: dict[Axis, list[str]] = field(default_factory=dict)
    static: list[str] = field(default_factory=list)  # comparisons without grid axes -> `if`


def _conjuncts(node: cst.BaseExpression, predicates: dict | None = None) -> list[cst.BaseExpression]:
    predicates = predicates or {}
    if isinstance(node, cst.Name) and node.value in predicates:
        return _conjuncts(predicates[node.value], predicates)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitAnd):
        return _conjuncts(node.left, predicates) + _conjuncts(node.right, predicates)
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.And):
        return _conjuncts(node.left, predicates) + _conjuncts(node.right, predicates)
    return [node]


_FLIP = {cst.LessThan: cst.GreaterThan, cst.LessThanEqual: cst.GreaterThanEqual,
         cst.GreaterThan: cst.LessThan, cst.GreaterThanEqual: cst.LessThanEqual}


def mask_bounds(scope: GridScope, mask: cst.BaseExpression, bounds: Bounds | None = None) -> Bounds:
    bounds = bounds or Bounds()
    for term in _conjuncts(mask, scope.predicates):
        if not scope.contains_grid(term):
            bare = term.with_changes(lpar=[], rpar=[]) if hasattr(term, "lpar") else term
            bounds.static.append(code(bare).strip())
            continue
        if not (isinstance(term, cst.Comparison) and len(term.comparisons) == 1):
            raise Untranslatable(f"mask term `{code(term)}` is not one comparison")
        comp = term.comparisons[0]
        op = type(comp.operator)
        if op not in _FLIP:
            raise Untranslatable(f"mask term `{code(term)}` uses {op.__name__}")
        left, right = scope.affine(term.left), scope.affine(comp.comparator)
        if left.axis is not None and right.axis is not None:
            raise Untranslatable(f"mask term `{code(term)}` compares two grid axes")
        if left.axis is None:  # put the grid axis on the left
            left, right, op = right, left, _FLIP[op]
        # coeff * axis + c (op) rhs  ->  axis (op') (rhs - c) / coeff
        bound = sub(right.const, left.const)
        if left.coeff == -1:
            bound, op = neg(bound), _FLIP[op]
        elif left.coeff != 1:
            raise Untranslatable(f"mask term `{code(term)}` scales the grid axis by {left.coeff}")
        pos = bound  # a bound on the axis position: Affine.const already holds the grid's start
        if op is cst.LessThan:
            bounds.upper.setdefault(left.axis, []).append(pos)
        elif op is cst.LessThanEqual:
            bounds.upper.setdefault(left.axis, []).append(add(pos, "1"))
        elif op is cst.GreaterThanEqual:
            bounds.lower.setdefault(left.axis, []).append(pos)
        else:
            bounds.lower.setdefault(left.axis, []).append(add(pos, "1"))
    return bounds


def _range_of(axis: Axis, bounds: Bounds | None) -> tuple[str, str]:
    """[lo, hi) of the axis position (0-based), clamped by the mask."""
    lo, hi = "0", axis.size
    if bounds is not None:
        if axis in bounds.lower:
            lo = f"max(0, {', '.join(bounds.lower[axis])})"
        if axis in bounds.upper:
            hi = f"min({axis.size}, {', '.join(bounds.upper[axis])})"
    return lo, hi


def translate_index(scope: GridScope, node: cst.Subscript, bounds: Bounds | None) -> cst.Subscript:
    """`a[<grid indices>]` -> `a[<slices>]`; Untranslatable when it is not a plain affine grid access."""
    elems = list(node.slice)
    parts: list[tuple[str, Affine | None, cst.SubscriptElement]] = []
    for e in elems:
        if isinstance(e.slice, cst.Index) and scope.contains_grid(e.slice.value):
            parts.append(("grid", scope.affine(e.slice.value), e))
        elif isinstance(e.slice, cst.Index):
            parts.append(("int", None, e))
        else:
            parts.append(("slice", None, e))
    used = [aff for kind, aff, _ in parts if kind == "grid"]
    grids = {aff.axis.grid for aff in used}
    if len(grids) > 1:
        # Axes of different `nl.arange` calls form one grid when their positions differ.
        positions = [aff.axis.position for aff in used]
        if len(set(positions)) != len(positions):
            raise Untranslatable("two index grids share an axis position")
    positions = [aff.axis.position for aff in used]
    if len(set(positions)) != len(positions):
        raise Untranslatable("one grid axis indexes two dims (a diagonal access)")
    # Grid axes out of subscript order address the tile transposed: slice, then permute the view so
    # its dim k is grid axis k (NkiTensor.permute; `out[i*128 + if_, ip]` stores a (P, F) tile into
    # an (F, P) region).
    order = sorted(range(len(positions)), key=lambda k: positions[k]) if positions != sorted(positions) else None
    if order is not None and any(kind == "slice" for kind, _, _ in parts):
        raise Untranslatable("grid axes are used out of order next to slices")
    ndim = max(aff.axis.ndim for aff in used)
    missing = ndim - len(used)
    ints = [i for i, (kind, _, _) in enumerate(parts) if kind == "int"]
    if missing and any(kind == "slice" for kind, _, _ in parts):
        raise Untranslatable("grid indices mixed with slices leave the tile's rank unclear")
    widen = set()
    if missing and order is not None:
        raise Untranslatable("grid axes out of order with unused grid axes")
    if missing:
        if len(ints) != missing:
            raise Untranslatable("the grid has more axes than the subscript uses")
        widen = set(ints)  # integer indices fill the grid's unused axes with extent 1
    new_elems = []
    for i, (kind, aff, e) in enumerate(parts):
        if kind == "grid":
            lo, hi = _range_of(aff.axis, bounds)
            if aff.coeff == 1:
                start, stop, step = add(aff.const, lo), add(aff.const, hi), None
            elif aff.coeff > 1:
                start = add(aff.const, mul(aff.coeff, lo))
                stop = add(add(aff.const, mul(aff.coeff, sub(hi, "1"))), "1")
                step = str(aff.coeff)
            else:
                raise Untranslatable("a grid axis with a negative coefficient (reversed access)")
            slc = cst.Slice(
                lower=cst.parse_expression(start),
                upper=cst.parse_expression(stop),
                step=cst.parse_expression(step) if step else None,
            )
            new_elems.append(e.with_changes(slice=slc))
        elif i in widen:
            v = code(e.slice.value)
            new_elems.append(e.with_changes(slice=cst.Slice(lower=cst.parse_expression(v),
                                                            upper=cst.parse_expression(add(v, "1")))))
        else:
            new_elems.append(e)
    out = node.with_changes(slice=new_elems)
    if order is not None:
        return cst.parse_expression(f"{code(out)}.permute({tuple(order)!r})")
    return out


def multi_affine(scope: GridScope, node: cst.BaseExpression) -> tuple[dict[int, int], str, dict[int, Axis]]:
    """An expression affine in several grid axes: ({axis position: coeff}, const code, {position: axis})."""
    if not scope.contains_grid(node):
        return {}, code(node), {}
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
        lc, lk, la = multi_affine(scope, node.left)
        rc, rk, ra = multi_affine(scope, node.right)
        sign = 1 if isinstance(node.operator, cst.Add) else -1
        coeffs = dict(lc)
        for pos, k in rc.items():
            coeffs[pos] = coeffs.get(pos, 0) + sign * k
        return coeffs, add(lk, rk) if sign == 1 else sub(lk, rk), {**la, **ra}
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        for grid_side, other in ((node.left, node.right), (node.right, node.left)):
            k = _int_literal(other)
            if k is not None and not scope.contains_grid(other):
                c, const, axes = multi_affine(scope, grid_side)
                return {p: k * v for p, v in c.items()}, mul(k, const), axes
        raise Untranslatable(f"`{code(node)}` scales a grid axis by a non-literal")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        c, const, axes = multi_affine(scope, node.expression)
        return {p: -v for p, v in c.items()}, neg(const), axes
    aff = scope.affine(node)
    if aff.axis is None:
        return {}, aff.const, {}
    return {aff.axis.position: aff.coeff}, aff.const, {aff.axis.position: aff.axis}


_CMP = {cst.GreaterThanEqual: "greater_equal", cst.GreaterThan: "greater", cst.LessThanEqual: "less_equal",
        cst.LessThan: "less", cst.Equal: "equal", cst.NotEqual: "not_equal"}


def affine_predicate(scope: GridScope, pred: cst.BaseExpression) -> tuple[int, int, str, str, Axis | None]:
    """`lhs <cmp> rhs` over a 2-d grid -> (channel_multiplier, free step, offset code, cmp op name, free axis)."""
    if isinstance(pred, cst.Name) and pred.value in scope.predicates:
        pred = scope.predicates[pred.value]
    if isinstance(pred, cst.Name) and pred.value in scope.retired:
        raise Untranslatable(_retired(pred.value))
    if not (isinstance(pred, cst.Comparison) and len(pred.comparisons) == 1):
        raise Untranslatable("affine_select predicate is not one comparison")
    comp = pred.comparisons[0]
    op = _CMP.get(type(comp.operator))
    if op is None:
        raise Untranslatable("affine_select predicate operator")
    lc, lk, la = multi_affine(scope, pred.left)
    rc, rk, ra = multi_affine(scope, comp.comparator)
    coeffs = dict(lc)
    for pos, k in rc.items():
        coeffs[pos] = coeffs.get(pos, 0) - k
    axes = {**la, **ra}
    if set(coeffs) - {0, 1}:
        raise Untranslatable("affine_select predicate over more than a 2-d grid")
    return coeffs.get(0, 0), coeffs.get(1, 0), sub(lk, rk), op, axes.get(1)
