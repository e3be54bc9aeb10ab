"""Imports a port left unused: an import the original file used and the ported file no longer does.

Rewriting `torch.cuda.amp.autocast(...)` into `torch.autocast(...)` or removing
`torch.backends.cudnn.benchmark = True` can leave `from torch.cuda.amp import autocast` or
`import torch.backends` behind, unused (ruff F401). Only such imports are removed: an import the
original already left unused is the author's business (it may be a re-export or a side effect).
An import inside a function is judged by that function's own uses (`def f(): import torch` whose
only use there was removed goes, whatever the rest of the file reads).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import libcst as cst

from porter.rewrite.nodes import removed, settle_removed
from porter.rewrite.positions import Positions, generate
from porter.rewrite.transforms import code_name
from porter.source.astwalk import walk
from porter.source.names import dotted_parts


@dataclass(frozen=True)
class _Binding:
    """One name an import binds: `key` is what its uses are counted by."""

    module: str  # "torch.cuda.amp" for `import torch.cuda.amp`; "torch.amp" for `from torch.amp import autocast`
    name: str | None  # the imported name of a from-import; None for `import x`
    asname: str | None
    key: str  # a plain name, or a dotted path for an unaliased `import a.b`
    # The function whose body holds the import (its path of definitions, see `_Scopes`), whose own
    # uses are the ones that count; () for a module-level import (and one in a class body, counted
    # over the file: a conservative choice, as class attributes are read in many ways).
    scope: tuple[str, ...] = ()

    @property
    def dotted(self) -> bool:
        return "." in self.key


def _bindings(stmt: ast.stmt, scope: tuple[str, ...] = ()) -> list[_Binding]:
    if isinstance(stmt, ast.Import):
        return [_Binding(a.name, None, a.asname, a.asname or a.name, scope) for a in stmt.names]
    if isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module:
        return [_Binding(stmt.module, a.name, a.asname, a.asname or a.name, scope)
                for a in stmt.names if a.name != "*"]
    return []


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class _Scopes:
    """Names each definition by its path: the names of the definitions around it and its own, each
    with how many same-named definitions came before it in the same place (`("train#0", "step#1")`).
    The ast walk here and the libcst walk of `_Dropper` meet definitions in the same source order,
    so both name a function alike, and the original and its port name alike the functions they share."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, ...], int] = {}

    def enter(self, outer: tuple[str, ...], name: str) -> tuple[str, ...]:
        key = (*outer, name)
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        return (*outer, f"{name}#{count}")


def _import_bindings(tree: ast.Module) -> tuple[list[_Binding], dict[tuple[str, ...], ast.AST]]:
    """Every import binding of a file, each with its function's path (see `_Binding.scope`; an import
    of a name its function declares `global` binds the module's name), and the functions by path.
    Only statements are visited."""
    bindings: list[_Binding] = []
    functions: dict[tuple[str, ...], ast.AST] = {}
    scopes = _Scopes()

    def visit(body: list[ast.stmt], path: tuple[str, ...], function: tuple[str, ...], declared: set[str]) -> None:
        for stmt in body:
            if isinstance(stmt, _DEFINITIONS):
                inner = scopes.enter(path, stmt.name)
                if isinstance(stmt, ast.ClassDef):
                    visit(stmt.body, inner, (), set())
                else:
                    functions[inner] = stmt
                    visit(stmt.body, inner, inner, set())
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                bindings.extend(b if b.key.split(".")[0] not in declared else replace(b, scope=())
                                for b in _bindings(stmt, function))
            elif isinstance(stmt, ast.Global):
                declared.update(stmt.names)  # a name is declared global before any binding of it
            else:
                for name in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, name, None) or [], path, function, declared)
                for holder in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
                    visit(holder.body, path, function, declared)

    visit(tree.body, (), (), set())
    visit = None  # noqa: F841 (the closure refers to itself: a cycle that would keep the trees for the collector)
    return bindings, functions


def _dotted(node: ast.expr) -> str | None:
    parts = dotted_parts(node)
    return ".".join(parts) if parts else None


def _name_uses(nodes: Iterable[ast.AST]) -> tuple[dict[str, int], list[str]]:
    """(uses per plain name, every attribute chain read) among these nodes."""
    names: dict[str, int] = {}
    chains: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Name):
            names[node.id] = names.get(node.id, 0) + 1
        elif isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain:
                chains.append(chain)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            for element in getattr(node.value, "elts", ()):  # a name listed in __all__ is exported: a use
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    names[element.value] = names.get(element.value, 0) + 1
    return names, chains


class _Uses:
    """The import bindings of a parsed file and the uses that count for each: the file's for a
    module-level import, its function's own for an import inside a function."""

    def __init__(self, tree: ast.Module) -> None:
        self.names, self.chains = _name_uses(walk(tree))
        self.bindings, self._functions = _import_bindings(tree)
        self._in_function: dict[tuple[str, ...], tuple[dict[str, int], list[str]]] = {}

    def count(self, binding: _Binding) -> int:
        names, chains = self.names, self.chains
        if binding.scope:
            function = self._functions.get(binding.scope)
            if function is None:
                return 0  # no such function here (the port added it)
            if binding.scope not in self._in_function:
                self._in_function[binding.scope] = _name_uses(walk(function))
            names, chains = self._in_function[binding.scope]
        if binding.dotted:
            return sum(1 for c in chains if c == binding.key or c.startswith(binding.key + "."))
        return names.get(binding.key, 0)

    def binds_head(self, binding: _Binding) -> bool:
        """Is `import a.b` what binds `a` for other uses of `a` here (no plain binding of `a` in its scope)?"""
        head = binding.key.split(".")[0]
        if any(b.key == head for b in self.bindings if b.scope == binding.scope):
            return False
        return bool(self.count(replace(binding, key=head)))


def unused_after_port(original: str, ported: str) -> set[_Binding]:
    """The import bindings of `ported` that `original` used and `ported` no longer uses."""
    try:
        return _unused(lambda: ast.parse(original), ast.parse(ported))
    except SyntaxError:
        return set()


def _unused(before: Callable[[], ast.Module], after: ast.Module) -> set[_Binding]:
    """`before` gives the original's tree: it is parsed only when some import of `after` is unused."""
    uses_after = _Uses(after)
    candidates = [b for b in uses_after.bindings if not uses_after.count(b)]
    if not candidates:
        return set()  # the common case: every import is still read, whatever the original did
    uses_before = _Uses(before())
    return {b for b in candidates
            if uses_before.count(b) and not (b.dotted and uses_after.binds_head(b))}


def _definitions_holding_imports(tree: ast.Module) -> set[tuple[str, ...]]:
    """The paths (as `_Scopes` names them) of the functions and classes with an import somewhere in
    their bodies: `_Dropper` need not walk the others, where it has nothing to drop."""
    holding: set[tuple[str, ...]] = set()
    scopes = _Scopes()

    def visit(body: list[ast.stmt], path: tuple[str, ...]) -> bool:
        found = False
        for stmt in body:
            if isinstance(stmt, _DEFINITIONS):
                inner = scopes.enter(path, stmt.name)
                if visit(stmt.body, inner):
                    holding.add(inner)
                    found = True
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                found = True
            else:
                holders = (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ()))
                for block in (*(getattr(stmt, name, None) or [] for name in ("body", "orelse", "finalbody")),
                              *(holder.body for holder in holders)):
                    found = visit(block, path) or found
        return found

    visit(tree.body, ())
    visit = None  # noqa: F841 (the closure refers to itself: a cycle that would keep the tree for the collector)
    return holding


class _Dropper(cst.CSTTransformer):
    def __init__(self, dropped: set[_Binding], holding: set[tuple[str, ...]] | None = None) -> None:
        """`holding`: the definitions with an import inside (`_definitions_holding_imports` of the
        same code), when known: the others are not walked."""
        super().__init__()
        self.dropped = dropped
        self.holding = holding
        self._scopes = _Scopes()
        # Per definition entered: its path, the function an import there belongs to, the names
        # that function declares global (as `_import_bindings` tracks them).
        self._stack: list[tuple[tuple[str, ...], tuple[str, ...], set[str]]] = [((), (), set())]

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Only import statements change: expressions (most of a big file's nodes), and lines of
        # simple statements holding no import or global declaration, are not walked.
        if isinstance(node, cst.BaseExpression) or isinstance(node, cst.SimpleStatementLine) and not any(
                isinstance(small, (cst.Import, cst.ImportFrom, cst.Global)) for small in node.body):
            return False
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            path = self._scopes.enter(self._stack[-1][0], node.name.value)
            self._stack.append((path, () if isinstance(node, cst.ClassDef) else path, set()))
            if self.holding is not None and path not in self.holding:
                return False  # no import inside: nothing to drop (on_leave still pops the entry)
        elif isinstance(node, cst.Global):
            self._stack[-1][2].update(item.name.value for item in node.names)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):
        if isinstance(original_node, (cst.FunctionDef, cst.ClassDef)):
            self._stack.pop()
        return super().on_leave(original_node, updated_node)

    def _keep(self, alias: cst.ImportAlias, module: str | None) -> bool:
        name = code_name(alias.name)
        asname = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) \
            else None
        _, function, declared = self._stack[-1]
        key = asname or name
        scope = () if key.split(".")[0] in declared else function
        if module is None:
            binding = _Binding(name, None, asname, key, scope)
        else:
            binding = _Binding(module, name, asname, key, scope)
        return binding not in self.dropped

    def leave_Import(self, original, updated):
        return self._trim(updated, [a for a in updated.names if self._keep(a, None)])

    def leave_ImportFrom(self, original, updated):
        if updated.relative or updated.module is None or isinstance(updated.names, cst.ImportStar):
            return updated
        module = code_name(updated.module)
        return self._trim(updated, [a for a in updated.names if self._keep(a, module)])

    @staticmethod
    def _trim(node, kept):
        if len(kept) == len(node.names):
            return node
        if not kept:
            return cst.RemovalSentinel.REMOVE
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        changes = {"names": kept}
        if isinstance(node, cst.ImportFrom) and node.lpar is not None and len(kept) == 1:
            changes.update(lpar=None, rpar=None)
        return node.with_changes(**changes)

    def leave_SimpleStatementLine(self, original, updated):
        if not updated.body:
            return removed(updated)  # the lines above it go to the next statement (settle_removed)
        return updated

    def leave_SimpleStatementSuite(self, original, updated):
        if not updated.body:  # `def f(): import torch`, its import dropped
            return updated.with_changes(body=[cst.Pass()])
        return updated

    def leave_IndentedBlock(self, original, updated):
        # a block whose only statements were dropped imports keeps a body (`pass`)
        return settle_removed(updated)

    def leave_Module(self, original, updated):
        return settle_removed(updated)


def drop_unused_imports(module: cst.Module, original: str, reuse: Positions | None = None) -> tuple[cst.Module, str]:
    """Remove the imports the port left unused (see the module docstring); the module and its code
    (generated once: code generation is a pass over the whole tree). Raises SyntaxError when the
    ported code does not parse (its parse here is the port's check that it does). `reuse`: the
    Positions of the tree `module` was rewritten from, whose unchanged nodes keep their text."""
    code = module.code if reuse is None else generate(module, reuse)
    after = ast.parse(code)
    try:
        dropped = _unused(lambda: ast.parse(original), after)
    except SyntaxError:  # the original does not parse: nothing is dropped
        return module, code
    if not dropped:
        return module, code
    module = module.visit(_Dropper(dropped, _definitions_holding_imports(after)))
    code = module.code if reuse is None else generate(module, reuse)
    ast.parse(code)
    return module, code
