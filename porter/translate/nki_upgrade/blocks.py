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

    def rewrite_attribute(self, up: Upgrader, updated: cst.Attribute) -> cst.BaseExpression:
        """`t.dtype` / `t.shape` of a tile that is now a list of k-deep blocks: the dtype of block 0,
        the legacy shape `(len(t), len(t[0]), ..., *t[0]...[0].shape)` (block dims, then the tile's)."""
        if not (isinstance(updated.value, cst.Name) and updated.value.value in self.names
                and updated.attr.value in ("dtype", "shape")):
            return updated
        name, k = updated.value.value, self.names[updated.value.value]
        up._note("NRN704", f"`{name}.{updated.attr.value}` of a list of tiles")
        if updated.attr.value == "dtype":
            return cst.parse_expression(f"{name}{'[0]' * k}.dtype")
        lens = ", ".join(f"len({name}{'[0]' * i})" for i in range(k))
        return cst.parse_expression(f"({lens}, *{name}{'[0]' * k}.shape)")

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


def whole_uses(stmt: cst.CSTNode, names: dict[str, int],
               params: dict[str, dict[str, int]] | None = None) -> list[str]:
    """Block-dim tiles used whole (passed to a function, read `.shape`): the list form differs there.
    A tile passed to a helper parameter that takes the list (`parameter_blocks`) is not such a use."""
    found: list[str] = []
    params = params or {}

    class V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> bool:
            taken = params.get(node.func.value, {}) if isinstance(node.func, cst.Name) else {}
            if not taken:
                return True
            node.func.visit(self)
            for i, a in enumerate(node.args):
                slot = a.keyword.value if a.keyword is not None else f"#{i}"
                passed = isinstance(a.value, cst.Name) and names.get(a.value.value) == taken.get(slot)
                if not passed:
                    a.visit(self)
            return False

        def visit_Subscript(self, node: cst.Subscript) -> bool:
            if isinstance(node.value, cst.Name) and node.value.value in names:
                for e in node.slice:
                    e.visit(self)
                return False
            return True

        def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
            return not (isinstance(node.target, cst.Name) and node.target.value in names)

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)  # `f(t=...)`: the keyword is a parameter name, not a use of t
            return False

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            # `t.dtype` / `t.shape` of a list of tiles are rewritten (rewrite_attribute)
            return not (isinstance(node.value, cst.Name) and node.value.value in names
                        and node.attr.value in ("dtype", "shape"))

        def visit_Name(self, node: cst.Name) -> None:
            if node.value in names and node.value not in found:
                found.append(node.value)

    stmt.visit(V())
    return found


def parameter_blocks(module: cst.Module, aliases: dict[str, str]) -> dict[str, dict[str, int]]:
    """Parameters that receive a block-dim tile whole: {function: {parameter: block dims}}.

    `helper(t=buf)` with `buf` allocated with block dims passes a list of tiles once upgraded, so the
    helper indexes its parameter as a list too. Only module-level functions called by name, and only
    when every call passes a block-dim tile with the same number of block dims (or nothing) there."""
    functions = {st.name.value: st for st in module.body if isinstance(st, cst.FunctionDef)}
    found: dict[str, dict[str, int]] = {}
    conflicts: set[tuple[str, str]] = set()

    for fn in module.body:
        if not isinstance(fn, cst.FunctionDef):
            continue
        blocks = BlockDims(aliases)
        blocks.collect(fn)  # every function's calls count: one passing a plain tile is a conflict

        class Calls(cst.CSTVisitor):
            def __init__(self, blocks: BlockDims) -> None:
                self.blocks = blocks

            def visit_Call(self, node: cst.Call) -> None:
                blocks = self.blocks
                if not (isinstance(node.func, cst.Name) and node.func.value in functions):
                    return
                callee = functions[node.func.value]
                params = [p.name.value for p in callee.params.params]
                for i, a in enumerate(node.args):
                    name = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
                    if name is None or a.star:
                        continue
                    # 0: this call passes something else there (a helper called both ways keeps its code)
                    k = blocks.names.get(a.value.value, 0) if isinstance(a.value, cst.Name) else 0
                    seen = found.setdefault(callee.name.value, {}).get(name)
                    if seen is not None and seen != k:
                        conflicts.add((callee.name.value, name))
                    found[callee.name.value][name] = k

        fn.visit(Calls(blocks))
    for fname, pname in conflicts:
        found.get(fname, {}).pop(pname, None)
    found = {f: {p: k for p, k in taken.items() if k} for f, taken in found.items()}
    for fname, taken in found.items():  # positions too ("#0"), for positional arguments
        for i, p in enumerate(functions[fname].params.params):
            if p.name.value in taken:
                taken[f"#{i}"] = taken[p.name.value]
    return {f: p for f, p in found.items() if p}
