"""The implementation-choosing names, found from the text's quoted words, are those a walk of the
whole tree finds (porter.source.selectors)."""

from __future__ import annotations

import ast

import pytest

from porter.source.selectors import Selectors

CHOOSERS = [
    # compared with "ref" on the line of the device string
    'def f(x, impl):\n    if impl in ["ref", "cuda"]:\n        return x\n',
    # a default one line, the comparison with "cuda" far below
    'def f(x, impl="torch"):\n    y = 1\n\n\n    if impl == "cuda":\n        return x\n    return y\n',
    # assigned a choice in a conditional expression
    'class M:\n    def __init__(self, fast):\n        self.backend = "cuda" if fast else "triton"\n\n'
    '    def forward(self, x):\n        if self.backend == "cuda":\n            return x\n        return x\n',
    # the word's quotes span lines
    'def f(x, impl=\\\n        """\nref\n"""):\n    return impl == "cuda"\n',
    # handed on: `g` compares its parameter with "ref", `f` hands its own to it
    'def g(x, impl):\n    return impl == "ref"\n\ndef f(x, impl="cuda"):\n    if impl == "cuda":\n'
    '        return g(x, impl=impl)\n',
    # a lambda's default, in a multi-line call
    'pick = (\n    lambda impl="eager":\n        impl == "cuda"\n)\n',
]

NOT_CHOOSERS = [
    'import torch\nraise RuntimeError("torch")\nif device == "cuda":\n    pass\n',  # the word only in a message
    'x = {"torch": 1}\nif dev == "cuda":\n    pass\n',  # a key, not a value of a name
    'print("ref")\ndef f(impl="cuda"):\n    return impl == "cuda"\n',
]


def _found(source: str, with_text: bool) -> tuple[set, set, set]:
    tree = ast.parse(source)
    found = Selectors(tree, source if with_text else None)

    def positions(ids: set[int]) -> set[tuple[int, int]]:
        return {(n.lineno, n.col_offset) for n in ast.walk(tree) if id(n) in ids}

    return positions(found.compares), positions(found.strings), positions(found.cuda_choice)


@pytest.mark.parametrize("source", CHOOSERS + NOT_CHOOSERS)
def test_the_text_guided_search_finds_what_the_whole_tree_walk_does(source):
    assert _found(source, with_text=True) == _found(source, with_text=False)


@pytest.mark.parametrize("source", CHOOSERS)
def test_a_name_compared_with_or_given_an_implementation_word_chooses(source):
    compares, strings, _ = _found(source, with_text=True)
    assert compares and strings


@pytest.mark.parametrize("source", NOT_CHOOSERS)
def test_a_word_no_name_takes_chooses_nothing(source):
    assert _found(source, with_text=True) == (set(), set(), set())


BINDING_SOURCES = [
    "import triton.language as tl\nfrom m import k as kern\nfrom n import *\n",
    "def f(a, /, b, *c, d=1, **e):\n    g = lambda h: h\n    return [i for i in a if (j := i)]\n",
    "@deco\nclass K:\n    def m(self):\n        global G\n        for x, (y, z) in w:\n            pass\n",
    "with open(p) as fh, ctx() as (u, v):\n    pass\nt: int = 1\nq += 1\n",
    "kernel = make()\nkernel[grid](x)\nother[grid](x)\n",
    "é = 1\nfor ﬁ in r:\n    pass\n",  # non-ASCII names; the second is stored as "fi" (NFKC)
]
QUERIES = ["tl", "triton", "kern", "k", "m", "a", "b", "c", "d", "e", "g", "h", "i", "j", "K", "deco", "self", "G",
           "x", "y", "z", "w", "fh", "u", "v", "t", "q", "kernel", "other", "grid", "é", "fi", "r", "p", "open"]


@pytest.mark.parametrize("source", BINDING_SOURCES)
def test_a_name_is_bound_where_the_text_guided_search_says_as_the_whole_tree_walk_does(source):
    from porter.source.gate_shapes import Bindings

    tree = ast.parse(source)
    by_text, by_walk = Bindings(tree, source), Bindings(tree)
    assert [by_text.binds(q) for q in QUERIES] == [by_walk.binds(q) for q in QUERIES]
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assert all(by_text.binds(name) for name in bound)
