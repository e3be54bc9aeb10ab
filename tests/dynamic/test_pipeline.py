"""The whole dynamic pipeline over every example project: `porter port --target neuron`, then
`porter trace`, `porter compile` (the CPU stand-in) and `porter parity` (original vs ported, through
the real worker subprocess; then the compiled ONNX artifact vs the original) must all pass."""

from __future__ import annotations

import json

import pytest

from tests.dynamic.conftest import EXAMPLES, in_process_worker, run_cli

EXAMPLE_NAMES = ["gpt_train", "image_classifier", "llama_infer", "llama_kernels", "portable_mlp"]


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_port_trace_compile_parity(example, tmp_path, monkeypatch):
    original = EXAMPLES / example
    ported = tmp_path / "ported"

    result = run_cli("port", original, "--out", ported, "--target", "neuron")
    assert result.exit_code == 0, result.output
    assert (ported / "model.py").is_file() and (ported / "pyproject.toml").is_file()

    result = run_cli("trace", "--root", ported, "--output-format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["exported"] and report["ops"] and report["unsupported"] == []
    assert all(op["sources"] for op in report["ops"])

    compiled = tmp_path / "compiled"
    result = run_cli("compile", "--root", ported, "--out", compiled, "--backend", "cpu")
    assert result.exit_code == 0, result.output
    assert "backend: cpu-onnx" in result.stdout
    metadata = json.loads((compiled / "metadata.json").read_text())
    assert metadata["backend"] == "cpu-onnx" and metadata["matches_eager"]

    out = tmp_path / "parity.json"
    result = run_cli("parity", "--root", original, "--candidate-root", ported, "--output-format", "json", "-o", out)
    data = json.loads(out.read_text())
    assert result.exit_code == 0, data
    assert data["passed"] and data["mode"] == "eager" and data["outputs"]

    # The compiled artifact against the original code (worker in process: the subprocess path is covered above).
    import porter.commands.parity as parity_command

    monkeypatch.setattr(parity_command, "run_in_subprocess", in_process_worker)
    out = tmp_path / "parity-onnx.json"
    result = run_cli("parity", "--root", original, "--onnx", compiled / "model.onnx", "--atol", "1e-4",
                     "--rtol", "1e-4", "--output-format", "json", "-o", out)
    data = json.loads(out.read_text())
    assert result.exit_code == 0, data
    assert data["mode"] == "compiled" and data["passed"]
