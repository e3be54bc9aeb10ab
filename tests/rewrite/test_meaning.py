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


# -- 4. device tests that gate CUDA-only code keep their CUDA meaning -----------------------------

GATED_TESTS = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _scale_kernel(x_ptr, n, BLOCK: tl.constexpr):
    pass


def triton_scale(x):
    _scale_kernel[(1,)](x, x.numel(), BLOCK=128)
    return x * 2


def scale(x):
    if x.is_cuda:
        return triton_scale(x)
    return x * 2


def checked(x):
    assert x.is_cuda
    return triton_scale(x)


def placed(x):
    assert x.is_cuda
    return x + 1


def on_accelerator(x):
    if x.is_cuda:
        x = x.float()
    return x


def use_fused(fused_available, device_type):
    flag = fused_available and device_type == "cuda"
    return flag


class Options:
    def __init__(self, flag):
        self.is_cuda = flag

    def describe(self):
        if self.is_cuda:
            return "gpu"
        return "cpu"
'''


def test_device_tests_that_gate_cuda_only_code_are_kept_and_marked(no_triton):
    ported, changes = port(GATED_TESTS)
    assert "    if x.is_cuda:\n        return triton_scale(x)" in ported
    assert "    assert x.is_cuda\n    return triton_scale(x)" in ported
    assert '    assert (x.device.type == "neuron")\n    return x + 1' in ported
    assert 'flag = fused_available and device_type == "cuda"' in ported
    assert ported.count("# porter: NRN106") == 2 and ported.count("# porter: NRN107") == 1
    # "which device am I on" is rewritten; the file's own `is_cuda` attribute is left alone
    assert 'if (x.device.type == "neuron"):\n        x = x.float()' in ported
    assert "self.is_cuda = flag" in ported and "if self.is_cuda:" in ported
    module = run(ported)
    x = torch.arange(3.0)
    assert torch.equal(module["scale"](x), x * 2)  # the CPU path, as in the original
    with pytest.raises(AssertionError):
        module["checked"](x)  # a CPU tensor is no CUDA tensor, as before
    assert module["use_fused"](True, "neuron") is False  # no fused CUDA kernel asked for on Neuron
    assert module["Options"](True).describe() == "gpu"


# -- 6. a rewritten availability check never lets CUDA-only code run on Neuron -------------------

AVAILABILITY = '''
import torch

name = "cpu"
if torch.cuda.is_available():
    name = torch.cuda.get_device_properties(0).name
use_mps = torch.backends.mps.is_available() and not torch.cuda.is_available()
device = "cuda" if torch.cuda.is_available() else "cpu"
'''


def test_availability_checks_keep_guarding_cuda_only_code(monkeypatch):
    ported, _ = port(AVAILABILITY)
    assert "if torch.cuda.is_available():\n    # porter: NRN128" in ported
    assert "use_mps = torch.backends.mps.is_available() and not torch.cuda.is_available()" in ported
    assert 'device = str(_porter_device()) if torch.accelerator.is_available() else "cpu"' in ported
    module = run(ported)
    assert module["name"] == "cpu" and module["use_mps"] is False and module["device"] == "cpu"
    # On an Apple machine torch.accelerator is MPS: the check must still say "MPS, not CUDA".
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    assert run(ported)["use_mps"] is True
