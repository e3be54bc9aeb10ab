"""Block dimensions -> Python lists of tiles (the SDK's "Use a Python-like list" migration).

`t = nl.ndarray((8, nl.par_dim(128), 256), ...)` had one block dim: eight (128, 256) tiles the
compiler placed. The program is the same with `t = [nl.ndarray((128, 256), ...) for _ in range(8)]`
and `t[i, a, b]` written `t[i][a, b]`. A use porter cannot map (slicing a block dim, the name used
whole) keeps the code and gets a marker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.names import call_name, code

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

_ALLOCATORS = {f"nki.language.{n}" for n in ("ndarray", "zeros", "ones", "full", "empty", "rand", "random")}


def _shape_arg(call: cst.Call) -> cst.Arg | None:
    for a in call.args:
        if a.keyword is not None and a.keyword.value == "shape":
            return a
    positional = [a for a in call.args if a.keyword is None]
    return positional[0] if positional else None


class BlockDims:
    """Tiles of one function allocated with block dims: name -> number of block dims."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.names: dict[str, int] = {}

    def _par_position(self, call: cst.BaseExpression) -> tuple[int, cst.Arg] | None:
        if not isinstance(call, cst.Call) or call_name(call, self.aliases) not in _ALLOCATORS:
            return None
        shape = _shape_arg(call)
        if shape is None or not isinstance(shape.value, (cst.Tuple, cst.List)):
            return None
        for i, el in enumerate(shape.value.elements):
            if isinstance(el.value, cst.Call) and call_name(el.value, self.aliases) == "nki.language.par_dim":
                return (i, shape) if i > 0 else None
        return None

    def collect(self, fn: cst.FunctionDef) -> None:
        outer = self

        class V(cst.CSTVisitor):
            def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
                return node is fn

            def visit_Assign(self, node: cst.Assign) -> None:
                target = node.targets[0].target if len(node.targets) == 1 else None
                found = outer._par_position(node.value)
                if found is not None and isinstance(target, cst.Name):
                    outer.names[target.value] = found[0]

        fn.visit(V())

    def rewrite_alloc(self, up: Upgrader, original: cst.Assign, node: cst.Assign) -> cst.Assign:
        target = node.targets[0].target if len(node.targets) == 1 else None
        if not isinstance(target, cst.Name) or target.value not in self.names:
            return node
        found = self._par_position(original.value)
        shape = _shape_arg(node.value) if isinstance(node.value, cst.Call) else None
        if found is None or shape is None or not isinstance(shape.value, (cst.Tuple, cst.List)):
            return node
        k = found[0]
        elements = list(shape.value.elements)
        blocks = [code(e.value) for e in elements[:k]]
        tile_shape = elements[k:]
        tile_shape[-1] = tile_shape[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        new_shape = shape.with_changes(value=cst.Tuple(elements=[*tile_shape[:-1], tile_shape[-1].with_changes(
            comma=cst.Comma() if len(tile_shape) == 1 else cst.MaybeSentinel.DEFAULT)]))
        call = node.value.with_changes(args=[new_shape if a is shape else a for a in node.value.args])
        expr = code(call)
        for b in reversed(blocks):
            expr = f"[{expr} for _ in range({b})]"
        up._note("NRN704", f"block dims ({', '.join(blocks)}) -> a list of tiles")
        return node.with_changes(value=cst.parse_expression(expr))

    def rewrite_subscript(self, up: Upgrader, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        if not isinstance(updated.value, cst.Name) or updated.value.value not in self.names:
            return updated
        k = self.names[updated.value.value]
        elems = list(updated.slice)
        if len(elems) < k or any(not isinstance(e.slice, cst.Index) for e in elems[:k]):
            up._mark("NRN704", f"block dims of `{updated.value.value}` sliced; index each block of the list")
            return updated
        expr: cst.BaseExpression = updated.value
        for e in elems[:k]:
            expr = cst.Subscript(value=expr, slice=[e.with_changes(comma=cst.MaybeSentinel.DEFAULT)])
        rest = elems[k:]
        if rest:
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            expr = cst.Subscript(value=expr, slice=rest)
        return expr


def whole_uses(stmt: cst.CSTNode, names: dict[str, int]) -> list[str]:
    """Block-dim tiles used whole (passed to a function, read `.dtype`): the list form differs there."""
    found: list[str] = []

    class V(cst.CSTVisitor):
        def visit_Subscript(self, node: cst.Subscript) -> bool:
            if isinstance(node.value, cst.Name) and node.value.value in names:
                for e in node.slice:
                    e.visit(self)
                return False
            return True

        def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
            return not (isinstance(node.target, cst.Name) and node.target.value in names)

        def visit_Name(self, node: cst.Name) -> None:
            if node.value in names and node.value not in found:
                found.append(node.value)

    stmt.visit(V())
    return found
