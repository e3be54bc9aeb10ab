"""Faster stand-ins for `ast.walk` and `ast.iter_child_nodes` on the lint's hot paths.

The standard ones go through two generators per node (`iter_child_nodes` over `iter_fields`) and
visit the operator and context leaves (`Load()`, `Add()`, `Eq()`) that no rule looks at. These
read each node class's fields once, skip the fields that never hold a node worth visiting, and
return the other nodes in the standard order, so a walk meets every other node as `ast.walk`
does and in the same order.
"""

from __future__ import annotations

import ast
import bisect
import weakref
from collections import deque
from collections.abc import Iterator

# Fields that hold an operator or context leaf, or plain data (names, numbers, flags), in every
# Python version: never a node worth visiting.
LEAF_FIELDS = frozenset({
    "ctx", "op", "ops", "type_comment", "id", "attr", "arg", "level", "is_async", "kind", "conversion",
    "simple", "module", "asname",
})

_FIELDS: dict[type, tuple[str, ...]] = {}


def node_fields(cls: type) -> tuple[str, ...]:
    """The fields of an ast class that may hold child nodes, in the class's field order."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(f for f in cls._fields if f not in LEAF_FIELDS)
    return fields


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`ast.iter_child_nodes(node)` as a list, without the operator and context leaves."""
    out: list[ast.AST] = []
    for name in _FIELDS.get(type(node)) or node_fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is list:
            out.extend(item for item in value if isinstance(item, ast.AST))
        elif isinstance(value, ast.AST):
            out.append(value)
    return out


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk(node)` (breadth first, same order) without the operator and context leaves."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        todo.extend(child_nodes(node))
        yield node


# What holds statements: blocks of statements, `except` handlers and `case` blocks.
_BLOCK_NODES = (ast.stmt, ast.excepthandler, ast.match_case)
# The fields that may hold a block of those (a simple statement has none: its fields, expressions,
# are not looked into). Any other field holds expressions or data, never a statement.
BLOCK_FIELDS = ("body", "orelse", "handlers", "finalbody", "cases")
# The node classes with such a field (compound statements, handlers, cases; and a few expressions
# whose `body` is an expression).
HOLDS_BLOCKS = frozenset(cls for cls in vars(ast).values() if isinstance(cls, type) and issubclass(cls, ast.AST)
                         and set(getattr(cls, "_fields", ())) & set(BLOCK_FIELDS))
_CLASS_BLOCK_FIELDS: dict[type, tuple[str, ...]] = {}


def _block_fields(cls: type) -> tuple[str, ...]:
    fields = _CLASS_BLOCK_FIELDS.get(cls)
    if fields is None:
        fields = _CLASS_BLOCK_FIELDS[cls] = tuple(f for f in cls._fields if f in BLOCK_FIELDS)
    return fields


def statements(tree: ast.AST) -> list[ast.stmt]:
    """The statements of a tree, at any depth, in the order `ast.walk` meets them.

    A statement's parent is a statement, an `except` handler, a `case` block or the module, so a
    breadth-first walk over those alone keeps each statement's depth and so its `ast.walk` order;
    the expressions, most of a tree, are never visited. A module's list is remembered while the
    module lives: a port asks for it five times (trees are not changed once parsed)."""
    if type(tree) is ast.Module:
        known = _MODULE_STATEMENTS.get(tree)
        if known is None:
            known = _MODULE_STATEMENTS[tree] = _statements(tree)
        return known
    return _statements(tree)


_MODULE_STATEMENTS: weakref.WeakKeyDictionary[ast.Module, list[ast.stmt]] = weakref.WeakKeyDictionary()


def _statements(tree: ast.AST) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        for name in _block_fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is list and value and isinstance(value[0], _BLOCK_NODES):
                todo.extend(value)
        if isinstance(node, ast.stmt):
            out.append(node)
    return out


def reaching(tree: ast.AST, lines: list[int]) -> Iterator[ast.AST]:
    """The nodes of a tree (depth first, the tree itself first) that reach one of `lines` (sorted,
    1-based; a definition's decorators count), and the nodes without a position on the way: what a
    text search for those lines can stand for."""
    stack: list[ast.AST] = [tree] if lines else []
    while stack:
        node = stack.pop()
        yield node
        for child in child_nodes(node):
            start = getattr(child, "lineno", None)
            if start is not None:
                decorators = getattr(child, "decorator_list", None)
                if decorators:
                    start = min(start, decorators[0].lineno)
                i = bisect.bisect_left(lines, start)
                if i == len(lines) or lines[i] > (child.end_lineno or start):
                    continue
            stack.append(child)
