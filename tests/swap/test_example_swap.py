"""examples/llama_kernels calls flash-attn, apex FusedRMSNorm and xformers swiglu (with plain PyTorch
fallbacks that state the libraries' semantics). Ported, it calls porter's shims; with the kernels
simulated, its forward and backward match the original's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import porter.kernels as pk  # noqa: E402

from porter.config import Overrides  # noqa: E402
from porter.rewrite.tree_port import PortOptions, port_tree  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llama_kernels"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("llama_kernels_ported")
    result = port_tree(EXAMPLE, PortOptions(target="neuron", out=out), Overrides(target="neuron"))
    assert not result.problems
    return out


def test_the_port_swaps_every_fused_import(ported):
    text = (ported / "model.py").read_text()
    assert "from porter.kernels.compat.flash_attn import flash_attn_func" in text
    assert "from porter.kernels.compat.apex.normalization import FusedRMSNorm" in text
    assert "import porter.kernels.compat.xformers.ops as xops" in text
    assert "# porter:" not in text  # nothing left for a person


def test_ported_forward_and_backward_match_the_original(ported):
    original = load(EXAMPLE / "model.py", "llama_kernels_original")
    swapped = load(ported / "model.py", "llama_kernels_ported")
    assert original.flash_attn_func.__module__ == "llama_kernels_original"  # the library's fallback
    assert swapped.flash_attn_func.__module__.startswith("porter.kernels.compat")
    reference, candidate = original.make_model(), swapped.make_model()
    candidate.load_state_dict(reference.state_dict(), strict=True)
    (tokens,) = original.example_inputs()
    expected = reference(tokens)
    expected.float().square().mean().backward()
    pk.reset_dispatch_counts()
    with pk.simulate():
        got = candidate(tokens)
        got.float().square().mean().backward()
    ran = {name for (name, path), n in pk.dispatch_counts().items() if path == "simulate" and n}
    assert {"attention", "rmsnorm", "swiglu"} <= ran
    torch.testing.assert_close(got, expected, rtol=2e-4, atol=2e-4)
    for (name, p_ref), (_, p_new) in zip(reference.named_parameters(), candidate.named_parameters(), strict=True):
        torch.testing.assert_close(p_new.grad, p_ref.grad, rtol=2e-3, atol=2e-4, msg=name)
