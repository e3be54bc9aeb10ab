"""Qualified-name resolution through imports, in every scope."""

from __future__ import annotations

import ast

import pytest

from porter.source.names import Scope, qualified_names


def resolve(code: str, expr_line: int) -> set[str]:
    """Qualified names of the expression statement on `expr_line` (1-based), in its real scope."""
    tree = ast.parse(code)
    scope = Scope(tree, None)

    def find(body, scope):
        for stmt in body:
            if isinstance(stmt, ast.Expr) and stmt.lineno == expr_line:
                return stmt.value, scope
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                found = find(stmt.body, Scope(stmt, scope))
                if found:
                    return found
        return None

    node, inner = find(tree.body, scope)
    return qualified_names(node, inner)


@pytest.mark.parametrize(
    ("code", "line", "expected"),
    [
        ("import torch\ntorch.cuda.synchronize\n", 2, {"torch.cuda.synchronize"}),
        ("import torch.cuda as tc\ntc.synchronize\n", 2, {"torch.cuda.synchronize"}),
        ("from torch import cuda\ncuda.synchronize\n", 2, {"torch.cuda.synchronize"}),
        ("from torch.cuda.amp import autocast as ac\nac\n", 2, {"torch.cuda.amp.autocast"}),
        ("import torch.distributed as dist\ndist.init_process_group\n", 2, {"torch.distributed.init_process_group"}),
        ("import torch.nn.functional\ntorch.nn.functional.relu\n", 2, {"torch.nn.functional.relu"}),
        # imported inside a function
        ("def f():\n    import torch.cuda as c\n    c.synchronize\n", 3, {"torch.cuda.synchronize"}),
        # module import visible inside a function
        ("import torch\ndef f():\n    torch.cuda\n", 3, {"torch.cuda"}),
    ],
)
def test_imports_resolve(code, line, expected):
    assert resolve(code, line) == expected


@pytest.mark.parametrize(
    ("code", "line"),
    [
        # a parameter shadows the module
        ("import torch\ndef f(torch):\n    torch.cuda\n", 3),
        # a local assignment shadows it for the whole function
        ("import torch\ndef f():\n    torch.cuda\n    torch = None\n", 3),
        # never imported
        ("cuda.synchronize\n", 1),
        # relative imports are the user's own package
        ("from . import cuda\ncuda.synchronize\n", 2),
        # class attributes are not visible inside methods
        ("class A:\n    import torch\n    def f(self):\n        torch.cuda\n", 4),
    ],
)
def test_locals_and_unknowns_do_not_resolve(code, line):
    assert resolve(code, line) == set()


def test_global_declaration_reaches_module_import():
    code = "import torch\ndef f():\n    global torch\n    torch.cuda\n"
    assert resolve(code, 4) == {"torch.cuda"}


def test_import_fallback_keeps_the_import():
    code = "try:\n    import flash_attn\nexcept ImportError:\n    flash_attn = None\nflash_attn.flash_attn_func\n"
    assert resolve(code, 5) == {"flash_attn.flash_attn_func"}


BINDING_SNIPPETS = [
    "import torch\nimport torch.cuda as tc\nfrom torch import cuda, nn as n\nfrom . import x\nfrom m import *\n",
    "a = b = 1\nc, (d, *e) = f\n[g, h] = i\nj.k = 1\nl[m] = 2\nn += 1\no: int\np: int = 3\ndel q, r.s\n",
    "for a, b in c:\n    d = 1\nelse:\n    e = 2\nwhile x:\n    f = 1\nelse:\n    g = 1\n",
    "if x:\n    import torch\nelif y:\n    a = 1\nelse:\n    torch = None\n",
    "with open(p) as f, g() as (h, i), j():\n    k = 1\n",
    "try:\n    import apex\nexcept ImportError as exc:\n    apex = None\nelse:\n    b = 1\nfinally:\n    c = 2\n",
    "@dec(lambda q: q)\ndef f(a=[y for y in z]):\n    x = 1\nclass C(B):\n    attr = 1\n",
    "async def g():\n    async for i in j:\n        pass\n    async with k as m:\n        pass\n",
    "def f():\n    global torch\n    nonlocal_name = 1\n    torch = 2\n",
    "match x:\n    case [a, *rest]:\n        b = 1\n    case {'k': v, **others}:\n        pass\n"
    "    case C(y=w) as whole:\n        pass\n",
    "assert x\nraise E\nprint(y)\nreturn_value = [z for z in w]\n",
]


@pytest.mark.parametrize("code", BINDING_SNIPPETS)
def test_statement_collection_matches_the_full_walk(code):
    """Without `:=` in the source, the statement-level collection binds exactly what walking every
    node does, in every scope of the snippet."""
    tree = ast.parse(code)
    scopes = [node for node in ast.walk(tree) if isinstance(node, (ast.Module, ast.FunctionDef,
                                                                  ast.AsyncFunctionDef, ast.ClassDef))]
    for node in scopes:
        full, fast = Scope(node, None), Scope(node, None, walrus_lines=[])
        assert fast.bindings == full.bindings
        assert fast.module_names == full.module_names
        assert (fast._globals, fast._nonlocals) == (full._globals, full._nonlocals)


WALRUS_SNIPPETS = [
    "if (y := 1):\n    z = 2\n",
    "x = 1\nif a:\n    b = [w := 3]\n",
    "@dec(k := 1)\ndef f():\n    pass\n",
    "def f(a=(d := 1)):\n    pass\n",
    "while (line := read()):\n    for i in (j := line):\n        pass\n",
    "lam = lambda: (q := 1)\nc = [r for s in t if (r := s)]\n",
    "try:\n    pass\nexcept (E := Err) as e:\n    if (v := 2):\n        u = 1\nelse:\n    w = 3\n",
    "with (m := lock) as held:\n    for k in (n := []):\n        p = 4\n",
    # an elif chain around a `:=`: every level spans it, each is looked at once
    "".join(f"{'el' if i else ''}if x == {i}:\n    a{i} = 1\n" for i in range(30))
    + "else:\n    if (z := 1):\n        b = 2\n",
]


@pytest.mark.parametrize("code", WALRUS_SNIPPETS)
def test_statements_spelling_walrus_are_walked_whole(code):
    """A `:=` binds in the enclosing scope (not in a lambda or comprehension, which are skipped as
    before); the statement collection finds the same names when told the lines that spell it."""
    lines = [n for n, text in enumerate(code.split("\n"), start=1) if ":=" in text]
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef)):
            assert Scope(node, None, walrus_lines=lines).bindings == Scope(node, None).bindings
    assert "y" in Scope(ast.parse(WALRUS_SNIPPETS[0]), None, walrus_lines=[1]).bindings


@pytest.mark.parametrize("binding", ['torch = pytest.importorskip("torch")',
                                     'torch = importlib.import_module("torch")',
                                     'torch = import_module("torch")'])
def test_a_module_imported_by_a_call_resolves_like_an_import(binding):
    assert resolve(f"{binding}\ntorch.cuda.synchronize\n", 2) == {"torch.cuda.synchronize"}


@pytest.mark.parametrize("binding", ['torch = pytest.importorskip(name)', 'torch = load("torch")',
                                     'torch = import_module(".torch")', 'torch, x = importorskip("torch")'])
def test_other_calls_bind_a_local_value(binding):
    assert resolve(f"{binding}\ntorch.cuda.synchronize\n", 2) == set()
