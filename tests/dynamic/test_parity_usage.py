"""`porter parity` usage errors (exit 2): no candidate (the original compared with itself), options
that would be silently ignored together, tolerances for outputs that do not exist, and tolerances
that are negative or not finite."""

from __future__ import annotations

import pytest

from porter.graph.entrypoints import EntrypointError, ModelSpec
from tests.dynamic.conftest import EXAMPLES, FIXTURES, outputs_by_name, parity_json, run_cli

OUTPUTS = FIXTURES / "outputs"
NESTED = ("--root", OUTPUTS, "--name", "nested")
OUTPUT_NAMES = "output[0], output[1]['logits'], output[1]['aux'][0], output[1]['aux'][1], output[2].hidden, " \
               "output[2].mask"


# --- no candidate --------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("--root", EXAMPLES / "llama_kernels", "--name", "llama_fused"),            # no candidate at all
    ("--root", EXAMPLES / "llama_kernels", "--candidate-root", EXAMPLES / "llama_kernels"),  # the same root
    (*NESTED, "--candidate", "model:make_nested"),                              # the same factory
])
def test_the_original_against_itself_is_refused(args):
    """Regression: with no candidate the original was compared with itself and reported PASS."""
    result = run_cli("parity", *args)
    assert result.exit_code == 2, result.stdout
    assert "nothing to compare" in result.stderr and "the reference itself" in result.stderr
    assert "--candidate-root PORTED" in result.stderr and "porter port" in result.stderr
    assert "PASS" not in result.stdout


def test_save_golden_alone_compares_nothing(parity_in_process, tmp_path):
    golden = tmp_path / "golden"
    result = run_cli("parity", *NESTED, "--save-golden", golden)
    assert result.exit_code == 0
    assert f"golden saved to {golden}" in result.stdout and "nothing compared" in result.stdout
    assert "PASS" not in result.stdout and (golden / "golden.json").is_file()
    out = tmp_path / "save.md"
    result = run_cli("parity", *NESTED, "--save-golden", golden, "--output-format", "markdown", "-o", out)
    assert result.exit_code == 0
    assert "golden saved" in out.read_text() and "✅" not in out.read_text()


# --- options that do nothing together ------------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (("--golden", "G", "--layers"), "--layers does not work with --golden"),
    (("--golden", "G", "--three-way"), "--three-way does not work with --golden"),
    (("--onnx", "m.onnx", "--layers"), "--layers does not work with --onnx"),
    (("--onnx", "m.onnx", "--three-way"), "--three-way does not work with --onnx"),
    (("--golden", "G", "--save-golden", "S"), "--save-golden and --golden exclude each other"),
    (("--golden", "G", "--onnx", "m.onnx"), "--golden and --onnx exclude each other"),
    (("--onnx", "m.onnx", "--candidate", "model:make_nested_broken"), "--candidate does not work with --onnx"),
    (("--onnx", "m.onnx", "--candidate-root", OUTPUTS), "--candidate-root does not work with --onnx"),
    (("--onnx", "m.onnx", "--simulate-kernels"), "--simulate-kernels does not work with --onnx"),
])
def test_options_ignored_together_are_usage_errors(extra, message, tmp_path):
    extra = tuple(tmp_path / e if e in ("G", "S", "m.onnx") else e for e in extra)
    result = run_cli("parity", *NESTED, *extra)
    assert result.exit_code == 2 and message in result.stderr


# --- tolerances ----------------------------------------------------------------------------------

def test_tolerance_for_an_unknown_output_lists_the_real_ones(parity_in_process, outputs_port, tmp_path):
    """Regression: `--tolerance nope=0,1` was ignored and the check ran on default tolerances."""
    result = run_cli("parity", *NESTED, "--candidate-root", outputs_port, "--tolerance", "nope=0,1")
    assert result.exit_code == 2
    assert "no output named 'nope' (--tolerance)" in result.stderr
    assert OUTPUT_NAMES in " ".join(result.stderr.split())
    # the real name works
    code, data = parity_json(*NESTED, "--candidate-root", outputs_port, "--tolerance", "output[0]=0,1",
                             out=tmp_path / "r.json")
    assert code == 0 and outputs_by_name(data)["output[0]"]["atol"] == 1.0


def test_tolerance_table_with_an_unknown_output(parity_in_process, outputs_port):
    result = run_cli("parity", "--root", OUTPUTS, "--name", "typo", "--candidate-root", outputs_port)
    assert result.exit_code == 2
    stderr = " ".join(result.stderr.split())
    assert "no output named \"output[1]['logitz']\"" in stderr and "[tool.porter.models.typo] tolerances" in stderr
    assert OUTPUT_NAMES in stderr


def test_unknown_output_against_a_golden(parity_in_process, tmp_path):
    golden = tmp_path / "golden"
    assert run_cli("parity", *NESTED, "--save-golden", golden).exit_code == 0
    result = run_cli("parity", *NESTED, "--golden", golden, "--tolerance", "logitz=0,1")
    assert result.exit_code == 2 and "no output named 'logitz'" in result.stderr


@pytest.mark.parametrize("option", [
    ("--atol", "-1"), ("--rtol", "nan"), ("--atol", "inf"), ("--tolerance", "output[0]=-1,0"),
    ("--tolerance", "output[0]=0,nan"),
])
def test_negative_or_non_finite_tolerance(option):
    result = run_cli("parity", *NESTED, "--candidate", "model:make_nested_broken", *option)
    assert result.exit_code == 2 and "a tolerance must be a finite number >= 0" in result.stderr


@pytest.mark.parametrize("table", [
    {"rtol": -0.1}, {"atol": float("nan")}, {"atol": float("inf")}, {"tolerances": {"o": [0.0, -1.0]}},
    {"tolerances": {"o": {"rtol": float("nan")}}},
])
def test_negative_or_non_finite_tolerance_in_the_table(table):
    with pytest.raises(EntrypointError, match="a tolerance must be a finite number >= 0"):
        ModelSpec.from_table("m", {"factory": "model:make", "inputs": "model:inputs", **table}, OUTPUTS,
                             "pyproject.toml")
