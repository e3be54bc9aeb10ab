"""porter's positions are libcst's PositionProvider ranges, from one code generation."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import CodePosition, MetadataWrapper, PositionProvider

from porter.rewrite.positions import Positions

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
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    got = Positions(module)
    assert set(got) == set(expected)
    assert all(got[node] == expected[node] for node in expected)


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
