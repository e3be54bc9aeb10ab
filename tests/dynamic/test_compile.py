"""`porter compile`: the CPU stand-in (ONNX + onnxruntime, checked against eager) for real, and the
Neuron path's argument plumbing through a test double, since the Neuron SDK cannot run here."""

from __future__ import annotations

import json
import os

import pytest
import torch

from porter.compile import backends
from porter.compile.backends import (
    CompileError,
    CompileOptions,
    FakeNeuronSDK,
    compile_model,
    compile_neuron,
    neuron_sdk_available,
    run_onnx,
)
from tests.dynamic.conftest import FIXTURES, run_cli

TRACING = FIXTURES / "tracing"
OUTPUTS = FIXTURES / "outputs"


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.fc(x)), self.fc.weight.sum() * x.mean()


def example():
    torch.manual_seed(0)
    return Small().eval(), (torch.randn(2, 4),)


# --- CPU stand-in --------------------------------------------------------------------------------

def test_cpu_standin_via_cli(tmp_path):
    out = tmp_path / "compiled"
    result = run_cli("compile", "--root", TRACING, "--name", "clean", "--out", out, "--backend", "cpu")
    assert result.exit_code == 0, result.output
    assert "backend: cpu-onnx" in result.stdout and "CPU stand-in" in result.stdout
    assert "max abs error vs eager" in result.stdout
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["backend"] == "cpu-onnx" and metadata["matches_eager"] is True
    assert metadata["max_abs_error_vs_eager"] < 1e-5 and metadata["input_shapes"] == [[2, 8]]
    # the options the Neuron compiler would have had are recorded, flagged as unused
    assert metadata["neuron_compiler_args_not_used"][:2] == ["--target", "trn2"]
    assert (out / "model.onnx").stat().st_size > 0


def test_auto_backend_without_the_sdk_is_the_standin(tmp_path):
    if neuron_sdk_available():
        pytest.skip("the Neuron SDK is installed: auto means Neuron here")
    result = run_cli("compile", "--root", TRACING, "--name", "clean", "--out", tmp_path / "c")
    assert result.exit_code == 0 and "backend: cpu-onnx" in result.stdout


def test_standin_output_matches_eager_for_several_outputs(tmp_path):
    model, args = example()
    result = compile_model(model, args, tmp_path, CompileOptions(), backend="cpu")
    assert result.backend == "cpu-onnx" and result.max_abs_error is not None and result.max_abs_error < 1e-5
    onnx_out = run_onnx(tmp_path / "model.onnx", args)
    with torch.no_grad():
        eager = model(*args)
    assert len(onnx_out) == 2
    for got, want in zip(onnx_out, eager, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_run_onnx_rejects_wrong_input_count(tmp_path):
    model, args = example()
    compile_model(model, args, tmp_path, CompileOptions(), backend="cpu")
    with pytest.raises(CompileError, match="takes 1 inputs"):
        run_onnx(tmp_path / "model.onnx", (args[0], args[0]))


def test_export_failure_is_an_error(tmp_path):
    result = run_cli("compile", "--root", TRACING, "--name", "control", "--out", tmp_path / "c", "--backend", "cpu")
    assert result.exit_code == 2 and "ONNX export failed" in result.stderr


def test_neuron_backend_without_the_sdk(tmp_path):
    if neuron_sdk_available():
        pytest.skip("the Neuron SDK is installed here")
    result = run_cli("compile", "--root", TRACING, "--name", "clean", "--out", tmp_path / "c", "--backend", "neuron")
    assert result.exit_code == 2 and "Neuron SDK" in result.stderr


@pytest.mark.parametrize("option, value", [("--auto-cast", "fp8"), ("--target", "inf1"), ("--model-type", "llm"),
                                           ("--auto-cast-type", "int8"), ("-O", "4"), ("--backend", "gpu")])
def test_bad_options(tmp_path, option, value):
    result = run_cli("compile", "--root", TRACING, "--name", "clean", "--out", tmp_path / "c", option, value)
    assert result.exit_code == 2 and option in result.stderr


def test_real_neuron_sdk(tmp_path):
    if not neuron_sdk_available():
        pytest.skip("needs the Neuron SDK (torch_neuronx), not installable here")
    model, args = example()
    result = compile_neuron(model, args, tmp_path, CompileOptions(target="trn1"))
    assert result.backend == "neuron" and (tmp_path / "model.neuron.pt").exists()


# --- Neuron path plumbing, through the test double -----------------------------------------------

def test_compiler_args():
    assert CompileOptions().compiler_args() == ["--target", "trn2", "--auto-cast", "none", "--model-type", "generic",
                                                "-O2"]
    args = CompileOptions(target="trn1", auto_cast="matmult", auto_cast_type="fp16", model_type="transformer",
                          optlevel=3).compiler_args()
    assert args == ["--target", "trn1", "--auto-cast", "matmult", "--model-type", "transformer", "-O3",
                    "--auto-cast-type", "fp16"]


def test_xla_path_plumbing_with_test_double(tmp_path):
    """TEST DOUBLE: FakeNeuronSDK stands in for torch_neuronx; this checks what porter passes to
    torch_neuronx.trace and what it writes, not that anything compiles for Neuron."""
    sdk = FakeNeuronSDK()
    model, args = example()
    options = CompileOptions(target="inf2", auto_cast="all", auto_cast_type="bf16", model_type="unet-inference",
                             optlevel=1, cache_dir=tmp_path / "cache")
    result = compile_neuron(model, args, tmp_path / "out", options, sdk=sdk)
    (call,) = sdk.calls
    assert call["api"] == "trace"
    assert call["compiler_args"] == ["--target", "inf2", "--auto-cast", "all", "--model-type", "unet-inference",
                                     "-O1", "--auto-cast-type", "bf16"]
    assert call["compiler_workdir"] == str(tmp_path / "cache")
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata["backend"] == "neuron" and metadata["api"] == "torch_neuronx.trace"
    assert metadata["torch_neuronx"] == FakeNeuronSDK.__version__
    assert result.artifact == str(tmp_path / "out" / "model.neuron.pt")
    loaded = torch.jit.load(result.artifact)
    torch.testing.assert_close(loaded(*args), model(*args))


def test_native_path_plumbing_with_test_double(tmp_path, monkeypatch):
    """TEST DOUBLE: FakeNeuronSDK.compile stands in for torch.compile(backend="neuron") and the CPU
    for the "neuron" device; this checks the compiler flags porter sets (NEURON_CC_FLAGS) and restores."""
    monkeypatch.setenv("NEURON_CC_FLAGS", "--previous")
    sdk = FakeNeuronSDK()
    model, args = example()
    options = CompileOptions(target="trn2", auto_cast="matmult", auto_cast_type="tf32", model_type="transformer",
                             optlevel=3, cache_dir=tmp_path / "cache")
    result = compile_neuron(model, args, tmp_path, options, sdk=sdk, compile_fn=sdk.compile, device="cpu")
    (call,) = sdk.calls
    assert call["api"] == "compile" and call["backend"] == "neuron" and call["kwargs"] == {"fullgraph": True}
    assert call["neuron_cc_flags"] == (f"--target trn2 --auto-cast matmult --model-type transformer -O3 "
                                       f"--auto-cast-type tf32 --cache_dir={tmp_path / 'cache'}")
    assert os.environ["NEURON_CC_FLAGS"] == "--previous"  # put back
    assert result.metadata["api"] == 'torch.compile(backend="neuron")'
    assert set(torch.load(result.artifact)) == {"fc.weight", "fc.bias"}


def test_cli_options_reach_the_neuron_path(tmp_path, monkeypatch):
    """TEST DOUBLE: the CLI's --target/--auto-cast/--auto-cast-type/--model-type/-O/--cache-dir reach
    torch_neuronx.trace (FakeNeuronSDK) unchanged; the output says the Neuron backend ran."""
    sdk = FakeNeuronSDK()
    real = backends.compile_neuron
    monkeypatch.setattr(backends, "compile_neuron", lambda m, a, o, opts: real(m, a, o, opts, sdk=sdk))
    result = run_cli("compile", "--root", TRACING, "--name", "clean", "--out", tmp_path / "out", "--backend", "neuron",
                     "--target", "trn1", "--auto-cast", "matmult", "--auto-cast-type", "fp8_e4m3",
                     "--model-type", "transformer", "-O", "3", "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert "backend: neuron (torch_neuronx.trace)" in result.stdout
    (call,) = sdk.calls
    assert call["compiler_args"] == ["--target", "trn1", "--auto-cast", "matmult", "--model-type", "transformer",
                                     "-O3", "--auto-cast-type", "fp8_e4m3"]
    assert call["compiler_workdir"] == str(tmp_path / "cache")


def test_invalid_options_fail_before_the_sdk_is_touched(tmp_path):
    sdk = FakeNeuronSDK()
    model, args = example()
    with pytest.raises(CompileError, match="--auto-cast"):
        compile_neuron(model, args, tmp_path, CompileOptions(auto_cast="some"), sdk=sdk)
    assert sdk.calls == []


def test_compile_uses_the_weights_file(tmp_path):
    """The artifact carries the weights `porter parity` would use (the table's weights file)."""
    result = run_cli("compile", "--root", OUTPUTS, "--name", "weighted", "--out", tmp_path, "--backend", "cpu")
    assert result.exit_code == 0, result.output
    x = torch.linspace(-1, 1, 24).reshape(3, 8)
    (out,) = run_onnx(tmp_path / "model.onnx", (x,))
    torch.testing.assert_close(out, (x.sum(-1, keepdim=True) * 0.25 + 1.0).expand(3, 4))


def test_compile_rejects_keyword_inputs(tmp_path):
    result = run_cli("compile", "--root", OUTPUTS, "--name", "keywords", "--out", tmp_path, "--backend", "cpu")
    assert result.exit_code == 2 and "positional example inputs only" in result.stderr


def test_compile_error_in_user_code(tmp_path):
    result = run_cli("compile", "--root", OUTPUTS, "--name", "raising", "--out", tmp_path, "--backend", "cpu")
    assert result.exit_code == 2 and "user factory exploded" in result.stderr
