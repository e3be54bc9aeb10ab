"""Whether a ported file needs the module-level `import torch` porter adds for its fixes.

A fix's text reads `torch.` (`torch.accelerator.synchronize()`), and porter's helpers read torch too,
but a file may get torch its own way: a test binds it in each test function (`torch =
pytest.importorskip("torch")`, or a stub, `torch = _FakeTorch()`), or once at module level. The
fix then reads that binding, and an `import torch` at the top would be unused (ruff F401), or
overwritten, and would fail where the file means to be skipped. Which scope a name resolves in is
the compiler's symbol table's answer (`symtable`).
"""

from __future__ import annotations

import ast
import re
import symtable
from collections.abc import Callable

from porter.source.astwalk import statements, walk

_FUTURE_ANNOTATIONS = re.compile(r"^from[ \t]+__future__[ \t]+import[^\n]*\bannotations\b", re.MULTILINE)


def needs_module_import(code: str, name: str, read: bool = False) -> bool:
    """Does the file need a module-level import binding `name` (a plain `import name` in it is taken
    for the one porter adds)? Only when some code reads `name` from the module's namespace: at
    module level, or in a function or class that binds no `name` of its own; and no top-level
    statement binds it already another way. `read`: the caller knows module-level code reads it
    (porter's device helper does). True when the code does not compile: porter adds what it did."""
    parsed: list[ast.Module | None] = []  # the tree, once one of the checks below needs it

    def tree() -> ast.Module | None:
        if not parsed:
            try:
                parsed.append(ast.parse(code))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                parsed.append(None)
        return parsed[0]

    if not read:
        try:
            table = symtable.symtable(code, "<ported>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True
        if not _reads_global(table, name) and not _in_postponed_annotation(code, name, tree):
            return False
    return not _bound_at_top(code, name, tree)


def _reads_global(table: symtable.SymbolTable, name: str) -> bool:
    """Is `name` read in this scope or one inside it where it resolves to the module's namespace?"""
    try:
        symbol = table.lookup(name)
    except KeyError:
        symbol = None
    if symbol is not None and symbol.is_referenced() and symbol.is_global():
        return True
    return any(_reads_global(child, name) for child in table.get_children())


def _in_postponed_annotation(code: str, name: str, tree: Callable[[], ast.Module | None]) -> bool:
    """Under `from __future__ import annotations` the symbol table leaves annotations out; one that
    names `name` anywhere is taken for a read (linters resolve it), whatever its scope."""
    if not _FUTURE_ANNOTATIONS.search(code):
        return False
    module = tree()
    if module is None:
        return True
    for node in statements(module):  # annotations are on statements: no walk of every expression
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            notes = [a.annotation for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                            arguments.vararg, arguments.kwarg) if a is not None]
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes = [node.annotation]
        else:
            continue
        if any(isinstance(n, ast.Name) and n.id == name for note in notes if note is not None for n in walk(note)):
            return True
    return False


def _bound_at_top(code: str, name: str, tree: Callable[[], ast.Module | None]) -> bool:
    """Does a top-level statement bind `name` every time the module runs, other than a plain `import
    name`? Only a file with a line that starts unindented and names it otherwise is parsed."""
    if not re.search(rf"^(?![ \t]|import {re.escape(name)}[ \t]*\r?$)[^\n]*\b{re.escape(name)}\b", code, re.MULTILINE):
        return False
    module = tree()
    return module is not None and any(_binds(stmt, name) for stmt in module.body)


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.Assign):
        return any(_target_binds(target, name) for target in stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return stmt.value is not None and _target_binds(stmt.target, name)
    if isinstance(stmt, ast.Import):  # `import torch.nn` binds `torch` too
        return any(a.asname == name or a.asname is None and a.name.startswith(name + ".") for a in stmt.names)
    if isinstance(stmt, ast.ImportFrom):
        return any((a.asname or a.name) == name for a in stmt.names)
    return False


def _target_binds(target: ast.expr, name: str) -> bool:
    if isinstance(target, ast.Name):
        return target.id == name
    if isinstance(target, ast.Starred):
        return _target_binds(target.value, name)
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_target_binds(element, name) for element in target.elts)
    return False
