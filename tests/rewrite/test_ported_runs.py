"""Ported snippets that are run, not only read: on the CPU and on porter's emulated Neuron device.

Each snippet is our own minimal version of a pattern met in a public training repository
(docs/regression.md, "Executed ports"); the port must run where the original ran, with the same
numbers, and take the device path on Neuron.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

pytest.importorskip("torch")

CATALOGUE = load_catalogue()


def port(code: str, target: str = "neuron") -> str:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    index = RuleIndex.build(rules)
    result = port_source(code, "snippet.py", index, CATALOGUE, target)
    assert result.error is None, result.error
    assert port_source(result.ported, "snippet.py", index, CATALOGUE, target).ported == result.ported
    return result.ported


def run(code: str, device: str = "cpu") -> str:
    """Run `code` in a fresh interpreter, on the plain CPU or on the emulated neuron device."""
    if device == "neuron":
        code = "import porter.emulate as _pe\nwith _pe.neuron():\n" + textwrap.indent(code, "    ")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_a_list_of_allowed_device_names_admits_the_neuron_device():
    # A device whitelist checked by membership: the name the port now picks must pass it.
    source = textwrap.dedent("""\
        import torch

        def autodetect():
            return "cuda" if torch.cuda.is_available() else "cpu"

        def init(device_type="cuda"):
            assert device_type in ["cuda", "mps", "cpu"], "invalid device type"
            if device_type not in ("cuda",):
                return torch.device("cpu")
            return torch.device(device_type)

        print(init(autodetect()).type)
        """)
    ported = port(source)
    assert 'in ["neuron", "mps", "cpu"]' in ported and 'not in ("neuron",)' in ported
    assert run(ported, "neuron").split() == ["neuron"]
    assert run(ported).split() == run(source).split() == ["cpu"]
    assert 'in ["xla", "mps", "cpu"]' in port(source, "xla")


def test_a_membership_test_of_other_strings_is_left_alone():
    source = 'import torch\nmode = "train"\nok = mode in ["train", "eval"]\nd = "cuda" in ["a", "b"]\n'
    assert '["train", "eval"]' in port(source) and '["a", "b"]' in port(source)


def test_an_autocast_made_later_through_partial_is_ported_like_the_call():
    # A quantizer that forces fp32 with a context made by functools.partial: on Neuron the device's
    # autocast must be the one switched off, or the step silently runs in bf16.
    source = textwrap.dedent("""\
        from contextlib import nullcontext
        from functools import partial
        import torch
        from torch.amp import autocast

        def quantize(x, force_f32=True):
            context = partial(autocast, "cuda", enabled=False) if force_f32 else nullcontext
            with context():
                return x @ x

        device = "neuron" if getattr(torch, "neuron", None) is not None and torch.neuron.is_available() else "cpu"
        x = torch.randn(4, 4).to(device)
        with torch.autocast(device, dtype=torch.bfloat16):
            print(quantize(x).dtype, quantize(x, False).dtype)
        """)
    ported = port(source)
    assert 'partial(torch.autocast, _porter_device().type, enabled=False, dtype=torch.float16)' in ported
    assert "from torch.amp import autocast" not in ported
    assert run(ported, "neuron").split() == ["torch.float32", "torch.bfloat16"]
    # On the CPU the original's CUDA switch left a CPU autocast on; the port switches off the autocast
    # of the device it runs on, as a plain `with autocast("cuda", enabled=False)` is ported.
    assert run(ported).split() == ["torch.float32", "torch.bfloat16"]

