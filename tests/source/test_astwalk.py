"""The lint's faster ast walks meet the nodes `ast.walk` does, in its order."""

from __future__ import annotations

import ast

import pytest

from porter.source.astwalk import child_nodes, statements, walk
from porter.source.gate_shapes import LAUNCH_TEXT
from porter.source.gate_shapes import launches as _launches

CODE = '''
import torch
@dec(lambda x: x + 1)
def f(a, b=[i for i in range(3)], *c, d: int = 2, **e) -> None:
    """doc"""
    try:
        x = a if b else -c
    except (ValueError, KeyError) as exc:
        def inner():
            return {k: v for k, v in e.items()}
    else:
        with open(a) as h, g():
            pass
    finally:
        del x
    match b:
        case [1, *rest] if rest:
            def in_case(): pass
        case {"k": v, **others}:
            pass
    return f"{a!r:>{b}}" < 3 <= 4
class C(Base, metaclass=M):
    async def m(self):
        async for i in self:
            await i
        async with self as s:
            yield s
'''

LEAVES = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)


def test_walk_is_ast_walk_without_operator_and_context_leaves():
    tree = ast.parse(CODE)
    assert [id(n) for n in walk(tree)] == [id(n) for n in ast.walk(tree) if not isinstance(n, LEAVES)]


def test_child_nodes_are_iter_child_nodes_without_leaves():
    for node in ast.walk(ast.parse(CODE)):
        assert child_nodes(node) == [c for c in ast.iter_child_nodes(node) if not isinstance(c, LEAVES)]


def test_statements_come_in_ast_walk_order():
    tree = ast.parse(CODE)
    assert [id(n) for n in statements(tree)] == [id(n) for n in ast.walk(tree) if isinstance(n, ast.stmt)]


@pytest.mark.parametrize("code", [
    "k[g](x)", "k[g] (x)", "(k[g])(x)", "f(k[g]  # c\n  # d\n (x))", "k[g] \\\n (x)", "f((k[g]  # c\n)(x))",
])
def test_every_kernel_launch_spelling_is_seen_in_the_text(code):
    tree = ast.parse(code)
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Subscript)]
    assert lines and LAUNCH_TEXT.search(code)
    assert sorted(_launches(tree, code)) == sorted(lines)


def test_launches_inside_decorated_and_nested_code_are_found():
    code = ("@kernel[\n  grid\n](1)\ndef f():\n    def g():\n        return [h[i](x) for i in r]\n"
            "class C:\n    y = t[0](1)\n")
    tree = ast.parse(code)
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Subscript)]
    assert sorted(_launches(tree, code)) == sorted(lines) == [1, 6, 8]


def test_no_launch_text_in_plain_code():
    assert not LAUNCH_TEXT.search("x = a[0]\nf(b)\ny = [1] # (\n")
