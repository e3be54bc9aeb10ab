"""`porter port --verify`: verified Triton kernels get their NKI translation and a dispatching launch site."""

from __future__ import annotations

import json
import os
import shutil

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")

from pathlib import Path  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from porter.cli import app  # noqa: E402
from porter.rewrite.triton_translation import dispatch_launches  # noqa: E402

PROJECT = Path(__file__).parent / "fixtures" / "port_project"


def test_launch_sites_dispatch_and_the_helper_follows_the_imports():
    src = "import triton\n\n@triton.jit\ndef k(x):\n    pass\n\ndef f(x):\n    k[(1,)](x, BLOCK=4)\n"
    out = dispatch_launches(src, {"k"})
    assert '_porter_triton_launch(k, (1,), "k")(x, BLOCK=4)' in out
    assert out.index("def _porter_triton_launch") > out.index("import triton")
    assert dispatch_launches(out, {"k"}) == out  # idempotent


def test_port_verify_applies_verified_kernels_only(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(PROJECT, src)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["port", str(src), "--out", str(out), "--verify", "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "_cube_fwd: translated + verified" in res.output
    assert "_row_max_atomic: not translatable: tl.atomic_max" in res.output
    ported = (out / "ops.py").read_text()
    assert (out / "ops_nki.py").exists()
    assert '_porter_triton_launch(_cube_fwd, (triton.cdiv(n, 512),), "_cube_fwd")(x, y, n, BLOCK=512)' in ported
    assert "_row_max_atomic[(x.shape[0],)]" in ported  # not translated: the Triton launch stays as it was
    assert "# porter: NRN430 not translated to NKI: tl.atomic_max" in ported
    kernels = {k["kernel"]: k for k in json.loads(report.read_text())["triton_kernels"]}
    assert kernels["_cube_fwd"]["applied"] and kernels["_cube_bwd"]["applied"]
    assert not kernels["_row_max_atomic"]["applied"]
    assert kernels["Cube"]["status"] == "autograd.Function: gradients verified"

    # The ported module: the Triton path (here Triton's interpreter) is untouched; the NKI path gives the same.
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("_ported_ops_test", out / "ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = torch.randn(5, 40)
    assert torch.allclose(mod.Cube.apply(x), x ** 3, atol=1e-5)
    import porter.nki

    before = porter.nki.last_run_stats()
    os.environ["PORTER_KERNELS_SIMULATE"] = "1"
    try:
        y = mod.Cube.apply(x)
    finally:
        del os.environ["PORTER_KERNELS_SIMULATE"]
    assert porter.nki.last_run_stats() is not before
    assert torch.allclose(y, x ** 3, atol=1e-5)


def test_verify_needs_a_written_tree(tmp_path):
    res = CliRunner().invoke(app, ["port", str(PROJECT), "--diff", "--verify"])
    assert res.exit_code == 2 and "--verify" in res.output


PRECONDITIONS = Path(__file__).parent / "fixtures" / "precondition_project"

DRIVER = """
import sys

import torch

sys.path.insert(0, sys.argv[1])
import ops

x = torch.arange(12.0, device="neuron")
y = ops.scale(x, 3.0)  # its `.is_cuda` precondition opened: the launch runs the NKI translation
print("scaled", y.device.type, y.cpu().tolist() == (torch.arange(12.0) * 3).tolist())
try:
    ops.total(x)  # its kernel was not translated: the precondition still keeps Neuron tensors out
except AssertionError:
    print("total refused")
"""


def test_is_cuda_preconditions_open_for_dispatched_launches_only(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["port", str(PRECONDITIONS), "--out", str(out), "--verify"])
    assert res.exit_code == 0, res.output
    assert "_scale_kernel: translated + verified" in res.output and "_total_kernel: not translatable" in res.output
    ported = (out / "ops.py").read_text()
    assert 'assert (x.is_cuda or x.device.type in ("neuron", "xla")) and x.is_contiguous()' in ported
    assert "# porter: NRN106 .is_cuda: also true on a Neuron device" in ported
    assert "\n    assert x.is_cuda\n" in ported  # total(): its launch still goes to Triton only
    # CUDA keeps its meaning: the opened test is the dispatcher's own condition, `x.is_cuda` first
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run = subprocess.run([sys.executable, "-m", "porter", "run", "--device", "neuron", str(driver), str(out)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "scaled neuron True" in run.stdout and "total refused" in run.stdout
