"""PyTorch's OpInfo samples on the emulated device: every op whose ATen ops the table marks Y gives the
CPU's result bit for bit. A representative subset; scripts/emulate_opdb.py runs all of them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("expecttest")  # PyTorch's OpInfo module imports it (the dev extra installs it)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emulate_opdb.py"
SUBSET = ["add", "mul", "div", "sub", "mm", "bmm", "addmm", "matmul", "exp", "log", "sqrt", "rsqrt", "tanh",
          "sigmoid", "softmax", "log_softmax", "nn.functional.gelu", "nn.functional.silu", "nn.functional.layer_norm",
          "nn.functional.embedding", "nn.functional.linear", "nn.functional.dropout", "mean", "sum", "amax", "cat",
          "split", "where", "cumsum", "transpose", "permute", "index_select", "gather", "var", "pow", "clamp",
          "argmax", "sort", "nonzero"]


def load_script():
    spec = importlib.util.spec_from_file_location("emulate_opdb", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["emulate_opdb"] = module
    spec.loader.exec_module(module)
    return module


def test_ops_marked_y_equal_the_cpu_bitwise():
    from torch.testing._internal.common_methods_invocations import op_db

    import porter.emulate as pe

    script = load_script()
    opinfos = [o for o in op_db if o.name in SUBSET]
    assert len({o.name for o in opinfos}) >= 35
    with pe.neuron() as state:
        results = [script.check(o, state) | {"op": o} for o in opinfos]
    for result in results:
        result["class"] = script.classify(result)
    all_y = [r for r in results if r["class"] == "all Y"]
    assert len(all_y) >= 30
    assert [r["name"] for r in all_y if r["status"] != "equal"] == []
    # sort and nonzero fall back to the CPU on Neuron: not "all Y", still run and still equal
    fallback = {r["name"]: r for r in results if r["class"] == "not all Y"}
    assert {"sort", "nonzero"} <= set(fallback)
    assert all(r["status"] == "equal" for r in fallback.values())
