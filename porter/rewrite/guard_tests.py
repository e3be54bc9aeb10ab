"""Is a guarded call already under its guard? `torch.cuda.synchronize()` is ported to
`if torch.accelerator.is_available(): torch.accelerator.synchronize()`; inside
`if torch.cuda.is_available():`, which the port turns into that same test, the guard would be said
twice. A test counts when the port makes it the guard (a rule renaming it to the guard's call) or
it already is the guard, as the test of an `if` whose body holds the site, or one side of an `and`
there: its `else`, and tests the port writes otherwise (the xla target's `device.type == "xla"`),
keep the guard."""

from __future__ import annotations

import ast

import libcst as cst

from porter.rewrite.transforms import code_name
from porter.source.astwalk import statements
from porter.source.catalogue import Catalogue
from porter.source.names import dotted_parts

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

_NAMES: dict[tuple[str, str, str], frozenset[str]] = {}


def guard_names(catalogue: Catalogue, target: str, guard: str) -> frozenset[str]:
    """The calls (as `torch.…` names) that read as `guard` (`{torch}.accelerator.is_available()`) once ported."""
    key = (catalogue.digest, target, guard)
    found = _NAMES.get(key)
    if found is None:
        callee = guard.removesuffix("()")
        names = {callee.format(torch="torch")} if guard.endswith("()") and "(" not in callee else set()
        for rule in catalogue:
            fix = rule.fix_for(target)
            if names and fix.transform == "rename" and fix.to == callee and fix.available:
                names.update(n for m in rule.matchers if m.kind == "name" for n in m.names if "*" not in n)
        found = _NAMES[key] = frozenset(names)
    return found


def _tests(test: cst.BaseExpression):
    """The tests an `if` makes of which each must hold: both sides of an `and`, recursively."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        yield from _tests(test.left)
        yield from _tests(test.right)
    else:
        yield test


def under_guard(node: cst.CSTNode, parents: dict, names: frozenset[str], torch_alias: str) -> bool:
    """Is `node` in the body of an `if` (in its function) whose test holds one of `names`' calls?"""
    child, parent = node, parents.get(node)
    while parent is not None and not isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
        if isinstance(parent, cst.If) and child is parent.body:
            for test in _tests(parent.test):
                if isinstance(test, cst.Call) and not test.args and _torch_name(code_name(test.func),
                                                                                  torch_alias) in names:
                    return True
        child, parent = parent, parents.get(parent)
    return False


def _torch_name(spelled: str, torch_alias: str) -> str:
    head, dot, rest = spelled.partition(".")
    return f"torch.{rest}" if dot and head == torch_alias else ""


def availability_blocks(tree: ast.Module) -> list[tuple[int, int]]:
    """The line spans of the bodies of `if`s whose test calls an `is_available`: where a guarded call
    may already stand under its guard (a superset of `under_guard`'s answers)."""
    spans = []
    for node in statements(tree):
        if isinstance(node, ast.If) and any(isinstance(sub, ast.Attribute) and sub.attr == "is_available"
                                            for sub in ast.walk(node.test)):
            spans.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
    return spans


def _says_guard(test: ast.expr, names: frozenset[str], torch_alias: str) -> bool:
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_says_guard(value, names, torch_alias) for value in test.values)
    if not isinstance(test, ast.Call) or test.args or test.keywords:
        return False
    parts = dotted_parts(test.func)
    return bool(parts) and len(parts) > 1 and parts[0] == torch_alias and "torch." + ".".join(parts[1:]) in names


def line_under_guard(tree: ast.Module, number: int, names: frozenset[str], torch_alias: str) -> bool:
    """`under_guard` for the statement starting on line `number`, read from the ast: is it in the body
    of an `if` (in its function) whose test holds one of `names`' calls?"""
    body, guarded = tree.body, False
    while True:
        stmt = next((s for s in body if s.lineno <= number <= (s.end_lineno or s.lineno)), None)
        if stmt is None or stmt.lineno == number:
            return guarded
        if isinstance(stmt, _DEFINITIONS):
            body, guarded = stmt.body, False
            continue
        blocks = [stmt.body, getattr(stmt, "orelse", None) or [], getattr(stmt, "finalbody", None) or [],
                  *(h.body for h in getattr(stmt, "handlers", ())), *(c.body for c in getattr(stmt, "cases", ()))]
        block = next((b for b in blocks if b and b[0].lineno <= number <= (b[-1].end_lineno or b[-1].lineno)), None)
        if block is None:
            return guarded
        if isinstance(stmt, ast.If) and block is stmt.body and _says_guard(stmt.test, names, torch_alias):
            guarded = True
        body = block
