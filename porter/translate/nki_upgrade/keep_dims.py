"""Legacy integer indices that kept a tile's free dim: `t[:, i]` on a 2-d SBUF/PSUM tile.

Legacy NKI tiles on chip always had a free dim (SDK 2.26 `nki.errors`, err_1d_arange_not_supported:
tile indices need two dims "to match the underlying memory (SBUF or PSUM)", and `tmp[0:64, 0]` on a
(128, 1) tile is its two-dim form). So `l_buffer[:, i]` on a (128, n) tile was a (128, 1) tile;
NKI 0.8 drops an integer-indexed dim (a (128,) view), and an elementwise op or a broadcast against a
(128, k) tile then fails. The upgrade writes the index as a one-wide slice, `t[:, i:i + 1]`.

Only where the legacy rule is known: the tile is a 2-d on-chip allocation (`nl.ndarray/zeros/ones/full`
with a literal shape, buffer SBUF/PSUM or none; block dims before `nl.par_dim` do not count) or a
helper parameter that every call in the module passes such a tile (or a `[:, i]` / block index of
one), and the index is an integer known statically (a literal, a loop variable, integer arithmetic of
those). HBM tensors are left alone (their integer index dropped the dim in legacy NKI too: SDK 2.26
programming model, "Basic Tensor Indexing"), as are tiles of other ranks.
"""

from __future__ import annotations

import libcst as cst

from porter.translate.nki_upgrade.grids import add
from porter.translate.nki_upgrade.names import arg, call_name, code, resolve

_ALLOCATORS = {f"nki.language.{n}" for n in ("ndarray", "zeros", "ones", "full", "rand")}
_LOOPS = {f"nki.language.{n}" for n in ("affine_range", "sequential_range", "static_range")}
_HBM = {f"nki.language.{n}" for n in ("hbm", "shared_hbm", "private_hbm")}
_INT_OPS = (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo)
UNKNOWN = -1  # a name bound to something else (or to tiles of different ranks)


def _alloc_rank(value: cst.BaseExpression, aliases: dict[str, str]) -> tuple[int, int] | None:
    """(on-chip rank from the partition dim on, block dims) of a legacy on-chip allocation, else None."""
    if call_name(value, aliases) not in _ALLOCATORS:
        return None
    shape = arg(value, "shape", 0)
    if shape is None or not isinstance(shape.value, (cst.Tuple, cst.List)):
        return None
    buf = arg(value, "buffer")
    if buf is not None:
        name = resolve(buf.value, aliases) or ""
        if isinstance(buf.value, cst.Call):
            name = resolve(buf.value.func, aliases) or ""
        on_chip = name in ("nki.language.sbuf", "nki.language.psum") or name.startswith(
            ("nki.compiler.sbuf.", "nki.compiler.psum."))
        if name in _HBM or not on_chip:
            return None
    dims = [e.value for e in shape.value.elements]
    blocks = next((k for k, d in enumerate(dims) if call_name(d, aliases) == "nki.language.par_dim"), 0)
    return len(dims) - blocks, blocks


class _Scope:
    """What one function binds: tile ranks (rank, blocks) or UNKNOWN, and names known to be ints."""

    def __init__(self, fn: cst.FunctionDef, parent: _Scope | None) -> None:
        self.fn = fn
        self.parent = parent
        self.tiles: dict[str, tuple[int, int] | int] = {}
        self.ints: set[str] = set()
        self.not_int: set[str] = set()
        self.params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        self.kwonly = [p.name.value for p in fn.params.kwonly_params]
        self.param_ranks: dict[str, tuple[int, int] | int] = {}

    def tile(self, name: str) -> tuple[int, int] | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.tiles:
                t = scope.tiles[name]
                return t if isinstance(t, tuple) else None
            if name in scope.params or name in scope.kwonly:
                t = scope.param_ranks.get(name, UNKNOWN)
                return t if isinstance(t, tuple) else None
            scope = scope.parent
        return None

    def is_int(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Integer):
            return True
        if isinstance(node, cst.Name):
            scope: _Scope | None = self
            while scope is not None:
                if node.value in scope.ints:
                    return True
                if node.value in scope.not_int or node.value in scope.tiles or node.value in scope.params:
                    return False
                scope = scope.parent
            return False
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return self.is_int(node.expression)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, _INT_OPS):
            left, right = self.is_int(node.left), self.is_int(node.right)
            # `i0 * tile_count + i1`: one side an int, the other a plain name (a size) or an int.
            plain = (cst.Name, cst.Attribute, cst.Integer)
            return (left and (right or (isinstance(node.right, plain) and self._maybe_size(node.right)))) or (
                right and isinstance(node.left, plain) and self._maybe_size(node.left))
        return False

    def _maybe_size(self, node: cst.BaseExpression) -> bool:
        return not (isinstance(node, cst.Name) and self.tile(node.value) is not None)


class _Collect(cst.CSTVisitor):
    """One pass over the module: scopes, their bindings, and the calls of module-level functions."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.stack: list[_Scope] = []
        self.scopes: dict[int, _Scope] = {}
        self.top: dict[str, _Scope] = {}
        self.calls: list[tuple[_Scope, cst.Call]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        scope = _Scope(node, self.stack[-1] if self.stack else None)
        self.scopes[id(node)] = scope
        if not self.stack:
            self.top[node.name.value] = scope
        self.stack.append(scope)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.pop()

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None, is_int: bool = False) -> None:
        if not self.stack:
            return
        scope = self.stack[-1]
        if isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._bind(el.value, None)
            return
        if not isinstance(target, cst.Name):
            return
        name = target.value
        if is_int:  # an int only while every binding of the name is one
            if name not in scope.not_int:
                scope.ints.add(name)
            return
        scope.ints.discard(name)
        scope.not_int.add(name)
        rank = _alloc_rank(value, self.aliases) if value is not None else None
        old = scope.tiles.get(name, rank)
        scope.tiles[name] = rank if (rank is not None and old == rank) else UNKNOWN

    def visit_Assign(self, node: cst.Assign) -> None:
        is_int = bool(self.stack) and self.stack[-1].is_int(node.value)
        for t in node.targets:
            self._bind(t.target, node.value, is_int)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if self.stack and isinstance(node.target, cst.Name) and not self.stack[-1].is_int(node.value):
            self._bind(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        if not self.stack:
            return
        name = call_name(node.iter, self.aliases)
        is_range = name in _LOOPS or (isinstance(node.iter, cst.Call) and isinstance(node.iter.func, cst.Name)
                                      and node.iter.func.value == "range")
        self._bind(node.target, None, is_range and isinstance(node.target, cst.Name))

    def visit_Call(self, node: cst.Call) -> None:
        if self.stack and isinstance(node.func, cst.Name):
            self.calls.append((self.stack[-1], node))


def _arg_rank(scope: _Scope, value: cst.BaseExpression) -> tuple[int, int] | None:
    """The legacy tile a call argument passes: a tile name, one block of it, or its `[:, i]` column."""
    if isinstance(value, cst.Name):
        t = scope.tile(value.value)
        return t if t is not None and t[1] == 0 else None
    if not (isinstance(value, cst.Subscript) and isinstance(value.value, cst.Name)):
        return None
    t = scope.tile(value.value.value)
    if t is None:
        return None
    rank, blocks = t
    elems = [e.slice for e in value.slice]
    if len(elems) < blocks or not all(isinstance(e, cst.Index) and scope.is_int(e.value) for e in elems[:blocks]):
        return None
    rest = elems[blocks:]
    if all(isinstance(e, cst.Slice) for e in rest) and len(rest) <= rank:
        return rank, 0
    if keeps_dim(scope, (rank, 0), rest):
        return rank, 0
    return None


def keeps_dim(scope: _Scope, tile: tuple[int, int], elems: list) -> bool:
    """`[<slice>, <int>]` on a 2-d on-chip tile (no block dims): the legacy (P, 1) column."""
    return (tile == (2, 0) and len(elems) == 2 and isinstance(elems[0], cst.Slice)
            and isinstance(elems[1], cst.Index) and scope.is_int(elems[1].value))


def _resolve_params(c: _Collect) -> None:
    """Parameter ranks from every call of each module-level function (to a fixed point)."""
    for _ in range(4):
        changed = False
        seen: dict[tuple[str, str], tuple[int, int] | int] = {}
        for scope, call in c.calls:
            callee = c.top.get(call.func.value)
            if callee is None:
                continue
            passed: dict[str, cst.BaseExpression] = {}
            positional = [a for a in call.args if a.keyword is None]
            if any(a.star for a in call.args):
                for p in (*callee.params, *callee.kwonly):
                    seen[(call.func.value, p)] = UNKNOWN
                continue
            for p, a in zip(callee.params, positional, strict=False):
                passed[p] = a.value
            for a in call.args:
                if a.keyword is not None:
                    passed[a.keyword.value] = a.value
            for p, v in passed.items():
                r = _arg_rank(scope, v)
                if isinstance(v, cst.Name) and v.value == "None":
                    continue  # an optional tile not given
                key = (call.func.value, p)
                old = seen.get(key, r if r is not None else UNKNOWN)
                seen[key] = r if (r is not None and old == r) else UNKNOWN
        for (fn, p), r in seen.items():
            if c.top[fn].param_ranks.get(p) != r:
                c.top[fn].param_ranks[p] = r
                changed = True
        if not changed:
            return


class _Find(cst.CSTVisitor):
    def __init__(self, c: _Collect) -> None:
        self.c = c
        self.stack: list[_Scope] = []
        self.found: set[int] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.append(self.c.scopes[id(node)])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if not self.stack or not isinstance(node.value, cst.Name):
            return
        scope = self.stack[-1]
        t = scope.tile(node.value.value)
        if t is not None and keeps_dim(scope, t, [e.slice for e in node.slice]):
            self.found.add(id(node))


def find(module: cst.Module, aliases: dict[str, str]) -> set[int]:
    """ids of the Subscript nodes of `module` whose integer index kept its dim in legacy NKI."""
    c = _Collect(aliases)
    module.visit(c)
    _resolve_params(c)
    f = _Find(c)
    module.visit(f)
    return f.found


def widen(node: cst.Subscript) -> cst.Subscript:
    """`t[:, i]` -> `t[:, i:i + 1]`."""
    last = node.slice[-1]
    v = code(last.slice.value)
    slc = cst.Slice(lower=cst.parse_expression(v), upper=cst.parse_expression(add(v, "1")))
    return node.with_changes(slice=[*node.slice[:-1], last.with_changes(slice=slc)])
