"""porter's positions and parents are libcst's PositionProvider ranges and ParentNodeProvider parents,
from one code generation; code generated with reuse is libcst's code; the unvalidated parse is
libcst's parse."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import CodePosition, MetadataWrapper, ParentNodeProvider, PositionProvider

from porter.rewrite.parsing import parse_module
from porter.rewrite.positions import _UNNOTED, Positions, generate

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "tests" / "fixtures" / "port").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
SNIPPETS = {
    "crlf": "import torch\r\nx = torch.ones(2).cuda()\r\nif x:\r\n    y = (1,\r\n         2)\r\n",
    "lone-cr": "a = 1\rb = (a,\r     2)\r",
    "tabs-and-non-ascii": "def f(größe):\n\tif größe:\n\t\treturn 'ä' + str(größe)  # ü\n",
    "no-final-newline": "x = [1,\n     2]",
    "decorated-async": "@dec(1)\nasync def g():\n    async with a as b:\n        await b\n",
}


def _assert_same(module: cst.Module) -> None:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    expected = wrapper.resolve(PositionProvider)
    got = Positions(module)
    expected = {node: at for node, at in expected.items() if type(node) not in _UNNOTED}
    assert set(got) == set(expected)
    assert all(got[node] == expected[node] for node in expected)
    # every node code generation writes (a node it skips, like the unused whitespace of a match
    # pattern, has no position either) has ParentNodeProvider's parent
    parents = wrapper.resolve(ParentNodeProvider)
    assert set(got.parents) == {node for node in expected if node is not module}
    assert all(got.parents[node] is parents[node] for node in got.parents)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_positions_are_libcst_position_provider(path):
    _assert_same(cst.parse_module(path.read_text()))


@pytest.mark.parametrize("name", SNIPPETS)
def test_positions_with_other_line_breaks_and_characters(name):
    _assert_same(cst.parse_module(SNIPPETS[name]))


def test_offsets_and_positions_are_inverse_and_stay_on_their_line():
    positions = Positions(cst.parse_module("ab = 1\r\ncd = 22\n"))
    assert positions.offset(2, 0) == 8 and positions.position(8) == CodePosition(2, 0)
    assert positions.offset(1, 6) == 6  # the line's end, before its break
    assert positions.offset(1, 8) is None  # past the break is not on line 1
    assert positions.offset(2, 7) == 15 and positions.offset(3, 0) == 16
    assert positions.offset(0, 0) is None and positions.offset(9, 0) is None and positions.offset(1, -1) is None


class _Rewrite(cst.CSTTransformer):
    """Changes that move unchanged nodes into other contexts: a statement into a deeper block, an
    argument that stops being the last (its default comma appears), a renamed name."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def leave_Name(self, original, updated):
        self.count += 1
        return updated.with_changes(value=updated.value + "_x") if self.count % 7 == 0 else updated

    def leave_SimpleStatementLine(self, original, updated):
        self.count += 1
        if self.count % 5 == 0:
            return cst.If(test=cst.Name("flag"), body=cst.IndentedBlock(body=[updated]))
        return updated

    def leave_Call(self, original, updated):
        self.count += 1
        if self.count % 3 == 0 and updated.args:
            return updated.with_changes(args=[cst.Arg(cst.Name("first")), *updated.args])
        return updated


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_generated_with_reuse_is_libcst_code(path):
    module = cst.parse_module(path.read_text())
    positions = Positions(module)
    rewritten = module.visit(_Rewrite())
    assert generate(rewritten, positions) == rewritten.code
    assert generate(module, positions) == module.code  # a tree no fix changed: every node reused


@pytest.mark.parametrize("name", SNIPPETS)
def test_code_generated_with_reuse_keeps_line_breaks_and_the_last_line(name):
    module = cst.parse_module(SNIPPETS[name])
    positions = Positions(module)
    rewritten = module.visit(_Rewrite())
    assert generate(rewritten, positions) == rewritten.code
    assert generate(module, positions) == module.code  # (libcst drops a lone-CR file's last break)


@pytest.mark.parametrize("path", FILES[:5], ids=lambda p: str(p.relative_to(ROOT)))
def test_unvalidated_parse_is_libcst_parse_and_validation_comes_back(path):
    source = path.read_text()
    assert parse_module(source).deep_equals(cst.parse_module(source))
    with pytest.raises(cst.CSTValidationError):
        cst.Call(func=cst.Name("f"), args=[cst.Arg(cst.Name("a"), keyword=cst.Name("k")), cst.Arg(cst.Name("b"))])
