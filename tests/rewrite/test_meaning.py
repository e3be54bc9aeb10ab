"""Rewrites keep the program's meaning (docs/rule-format.md, "The principle").

Each test ports a minimal snippet, runs the ported code on the CPU with torch, and checks that it
means what the original meant: the user's values are kept, CUDA-only code stays behind its guard,
and a site porter cannot prove safe is marked. Every snippet is also ported twice (idempotence).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

torch = pytest.importorskip("torch")

CATALOGUE = load_catalogue()
# Every snippet a test ports, for the idempotence property below.
SNIPPETS: list[tuple[str, str, bool]] = []


def _index(target: str) -> RuleIndex:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    return RuleIndex.build(rules)


def port(code: str, target: str = "neuron", unsafe: bool = False, path: str = "snippet.py",
         extensions: frozenset[str] = frozenset()):
    """The ported text and the port's changes; the port must succeed and parse."""
    SNIPPETS.append((code, target, unsafe))
    result = port_source(code, path, _index(target), CATALOGUE, target, unsafe, extensions)
    assert result.error is None, result.error
    compile(result.ported, "ported.py", "exec")
    return result.ported, result.changes


def run(code: str, **names) -> dict:
    """Execute ported code as a module on the CPU; its globals afterwards."""
    namespace = {"__name__": "ported", **names}
    exec(compile(code, "ported.py", "exec"), namespace)
    return namespace


@pytest.fixture
def no_triton(monkeypatch):
    """A machine without Triton (whatever this one has installed)."""
    monkeypatch.setitem(sys.modules, "triton", None)
    monkeypatch.setitem(sys.modules, "triton.language", None)


# -- 7. the stand-in for a missing CUDA-only package is inert at import ---------------------------

TRITON_META = '''
import triton
import triton.language as tl
from packaging import version

NEW_TRITON = version.parse(triton.__version__) >= version.parse("2.1")
configs = [triton.Config({"BLOCK": 128}, num_warps=8), triton.Config({"BLOCK": 64}, num_warps=4)]
small = [c for c in configs if c.num_warps <= 4]
by_warps = sorted(configs, key=lambda c: c.num_warps)


@triton.autotune(configs=configs, key=["n"])
@triton.jit
def kernel(x_ptr, n, BLOCK: tl.constexpr):
    pass


MIN_BLOCK = min(cfg.kwargs["BLOCK"] for cfg in kernel.configs)
WIDE = max(c.num_warps for c in configs) * 2 + 1
for config in configs:
    config.kwargs["BLOCK"] = config.kwargs["BLOCK"] // 2


def launch(x):
    kernel[(1,)](x, 1, BLOCK=MIN_BLOCK)


def is_config(obj):
    return isinstance(obj, triton.Config)
'''


def test_module_level_meta_programming_over_a_missing_package_imports(no_triton):
    ported, _ = port(TRITON_META)
    module = run(ported)
    assert module["NEW_TRITON"] is False  # a missing package is older than any release
    assert module["small"] == []
    assert module["is_config"](object()) is False
    with pytest.raises(ImportError, match=r"kernel needs 'triton'.*NRN406"):
        module["launch"](torch.zeros(2))
