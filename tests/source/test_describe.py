"""How a matched value is named in a finding (`Matchers._describe`): a plain string literal is written
without `ast.unparse` (the common `device="cuda"`), and must read as unparse would write it."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

from porter.source.matching import Matchers


def _by_unparse(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("cuda:0 'x\"\\\né#~[]_"), max_size=70))
def test_a_string_literal_reads_as_unparse_writes_it(value):
    node = ast.Constant(value)
    assert Matchers._describe(node) == _by_unparse(node)


def test_other_values_are_unparsed():
    for code in ("torch.device('cuda', 0)", "f'cuda:{rank}'", "0", "b'cuda'"):
        node = ast.parse(code, mode="eval").body
        assert Matchers._describe(node) == _by_unparse(node)
