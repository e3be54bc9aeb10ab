"""porter's parent map is libcst's ParentNodeProvider, computed from the nodes' fields directly."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, ParentNodeProvider

from porter.rewrite.nodes import parent_map

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "tests" / "fixtures" / "port").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_parent_map_is_libcst_parent_provider(path):
    module = cst.parse_module(path.read_text())
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    expected = wrapper.resolve(ParentNodeProvider)
    got = parent_map(wrapper.module)
    assert len(got) == len(expected)
    assert all(got[node] is parent for node, parent in expected.items())
