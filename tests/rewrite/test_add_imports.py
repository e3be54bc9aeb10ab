"""porter's import insertion gives libcst's AddImportsVisitor's result for plain module imports."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from porter.rewrite.placement import add_module_imports

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "tests" / "fixtures" / "port").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
SHAPES = {
    "empty": "",
    "docstring-only": '"""Doc."""\n',
    "docstring-then-code": '"""Doc."""\nx = 1\n',
    "concatenated-docstring": '"a" "b"\nimport os\n',
    "strict-flag": "__strict__ = True\nimport os\nx = 1\n",
    "future-and-imports": "from __future__ import annotations\nimport os, sys\nimport torch as T\nx = 1\n",
    "already-imported": "import torch\nimport porter.kernels.compat.sdpa\ny = 2\n",
    "import-later-only": "x = 1\nimport torch\n",
    "comment-after-imports": "import os\n# a comment\ndef f():\n    pass\n",
    "blank-after-imports": "import os\n\nx = 1\n",
    "two-smalls-on-a-line": "import os; import sys\nx = 1\n",
    "crlf": "import os\r\nx = 1\r\n",
    "guarded-import": "try:\n    import torch\nexcept ImportError:\n    pass\n",
}
NEEDED = ["torch", "porter.kernels.compat.sdpa", "os", "sys"]


def _libcst(module: cst.Module, names: list[str]) -> cst.Module:
    context = CodemodContext()
    for name in names:
        AddImportsVisitor.add_needed_import(context, name)
    return AddImportsVisitor(context).transform_module(module)


def _assert_same(source: str) -> None:
    module = cst.parse_module(source)
    for names in (NEEDED, ["torch"], ["sys", "os"]):
        assert add_module_imports(module, names).code == _libcst(module, names).code


@pytest.mark.parametrize("name", SHAPES)
def test_add_module_imports_is_libcst_add_imports(name):
    _assert_same(SHAPES[name])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_add_module_imports_on_fixtures(path):
    _assert_same(path.read_text())


def test_nothing_missing_returns_the_module_itself():
    module = cst.parse_module("import torch\nx = 1\n")
    assert add_module_imports(module, ["torch"]) is module
