"""Imports a port left unused: an import the original file used and the ported file no longer does.

Rewriting `torch.cuda.amp.autocast(...)` into `torch.autocast(...)` or removing
`torch.backends.cudnn.benchmark = True` can leave `from torch.cuda.amp import autocast` or
`import torch.backends` behind, unused (ruff F401). Only such imports are removed: an import the
original already left unused is the author's business (it may be a re-export or a side effect).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

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

    @property
    def dotted(self) -> bool:
        return "." in self.key


def _bindings(stmt: ast.stmt) -> list[_Binding]:
    if isinstance(stmt, ast.Import):
        return [_Binding(a.name, None, a.asname, a.asname or a.name) for a in stmt.names]
    if isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module:
        return [_Binding(stmt.module, a.name, a.asname, a.asname or a.name) for a in stmt.names if a.name != "*"]
    return []


def _dotted(node: ast.expr) -> str | None:
    parts = dotted_parts(node)
    return ".".join(parts) if parts else None


def _uses(tree: ast.Module) -> tuple[dict[str, int], list[str], list[_Binding]]:
    """(uses per plain name, every attribute chain read, every import binding) of a parsed file."""
    names: dict[str, int] = {}
    chains: list[str] = []
    bindings: list[_Binding] = []
    for node in walk(tree):
        if isinstance(node, ast.Name):
            names[node.id] = names.get(node.id, 0) + 1
        elif isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain:
                chains.append(chain)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bindings.extend(_bindings(node))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            for element in getattr(node.value, "elts", ()):  # a name listed in __all__ is exported: a use
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    names[element.value] = names.get(element.value, 0) + 1
    return names, chains, bindings


def _count(binding: _Binding, names: dict[str, int], chains: list[str]) -> int:
    if binding.dotted:
        return sum(1 for c in chains if c == binding.key or c.startswith(binding.key + "."))
    return names.get(binding.key, 0)


def unused_after_port(original: str, ported: str) -> set[_Binding]:
    """The import bindings of `ported` that `original` used and `ported` no longer uses."""
    try:
        return _unused(lambda: ast.parse(original), ast.parse(ported))
    except SyntaxError:
        return set()


def _unused(before: Callable[[], ast.Module], after: ast.Module) -> set[_Binding]:
    """`before` gives the original's tree: it is parsed only when some import of `after` is unused."""
    names_after, chains_after, bindings = _uses(after)
    candidates = [b for b in bindings if not _count(b, names_after, chains_after)]
    if not candidates:
        return set()  # the common case: every import is still read, whatever the original did
    names_before, chains_before, _ = _uses(before())
    top_bound = {b.key.split(".")[0] for b in bindings if not b.dotted}
    dropped = set()
    for binding in candidates:
        if not _count(binding, names_before, chains_before):
            continue
        if binding.dotted and binding.key.split(".")[0] not in top_bound and names_after.get(binding.key.split(".")[0]):
            continue  # `import a.b` is what binds `a` for the file's other uses of `a`
        dropped.add(binding)
    return dropped


class _Dropper(cst.CSTTransformer):
    def __init__(self, dropped: set[_Binding]) -> None:
        super().__init__()
        self.dropped = dropped

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Only import statements change: expressions (most of a big file's nodes), and lines of
        # simple statements holding no import, are not walked.
        if isinstance(node, cst.BaseExpression) or isinstance(node, cst.SimpleStatementLine) and not any(
                isinstance(small, (cst.Import, cst.ImportFrom)) for small in node.body):
            return False
        return super().on_visit(node)

    def _keep(self, alias: cst.ImportAlias, module: str | None) -> bool:
        name = code_name(alias.name)
        asname = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) \
            else None
        if module is None:
            binding = _Binding(name, None, asname, asname or name)
        else:
            binding = _Binding(module, name, asname, asname or name)
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
            return cst.RemovalSentinel.REMOVE
        return updated

    def leave_IndentedBlock(self, original, updated):
        if not updated.body:  # a block whose only statement was a dropped import keeps a body
            return updated.with_changes(body=[cst.SimpleStatementLine(body=[cst.Pass()])])
        return updated


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
    module = module.visit(_Dropper(dropped))
    code = module.code if reuse is None else generate(module, reuse)
    ast.parse(code)
    return module, code
