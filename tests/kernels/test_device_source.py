"""Static checks on the NKI kernel sources: they must be NKI 0.6 code the Neuron compiler accepts, not just Python
the simulator happens to run (the simulator executes plain Python, so it cannot catch these)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DEVICE = Path(__file__).resolve().parents[2] / "kernels" / "device"
SOURCES = sorted(p for p in DEVICE.glob("*.py") if p.name != "__init__.py")
ALLOWED_IMPORTS = {"nki", "nki.language", "nki.isa"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _jit_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                if isinstance(dec, ast.Attribute) and dec.attr == "jit" and getattr(dec.value, "id", "") == "nki":
                    out.append(node)
    return out


def test_there_are_kernel_sources():
    assert {p.stem for p in SOURCES} >= {"norms", "softmax", "glu", "rotary", "matmul", "attention", "common"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_imports_only_the_nki_namespace(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name in ALLOWED_IMPORTS, f"{path.name}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 1 or node.module in ALLOWED_IMPORTS, f"{path.name}: from {node.module} import"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_isa_calls_name_their_destination(path):
    """nki.isa ops take the destination first; the kernels always pass it by keyword (dst=...)."""
    for node in ast.walk(_tree(path)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and getattr(node.func.value, "id", "") == "nisa"):
            keywords = {k.arg for k in node.keywords}
            assert "dst" in keywords, f"{path.name}:{node.lineno}: nisa.{node.func.attr} without dst="


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_is_operator_and_no_legacy_api(path):
    """NKI >= 0.3 has no `is`; nl.load/store/mgrid/arange masks are legacy or experimental."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Compare):
            assert not any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops), f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "nl":
            assert node.attr not in {"load", "store", "mgrid", "arange", "par_dim", "affine_range"}, (
                f"{path.name}:{node.lineno}: nl.{node.attr}")
        if isinstance(node, ast.keyword):
            assert node.arg != "mask", f"{path.name}:{node.lineno}: mask= is legacy NKI"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_kernel_signatures_and_outputs(path):
    tree = _tree(path)
    for fn in _jit_functions(tree):
        args = fn.args
        assert args.vararg is None and args.kwarg is None and not args.kwonlyargs, (
            f"{path.name}: {fn.name} uses * in its signature")
        assert any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn)), fn.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "ndarray"
                and any(k.arg == "buffer" and isinstance(k.value, ast.Attribute) and k.value.attr == "hbm"
                        for k in node.keywords)):
            pytest.fail(f"{path.name}:{node.lineno}: outputs must be nl.shared_hbm")
