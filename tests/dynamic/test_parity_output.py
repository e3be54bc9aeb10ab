"""What `porter parity` writes: strict JSON (no NaN/Infinity tokens), NaN/Inf counts and problems
in the table and the Markdown, and cosine similarities that never round to 1."""

from __future__ import annotations

import json
import math

import pytest
import torch

from porter.parity.compare import compare_tensors
from porter.parity.output import _fmt_cosine, render_json, render_markdown, strict_json
from tests.dynamic.conftest import FIXTURES, run_cli

NESTED = ("--root", FIXTURES / "outputs", "--name", "nested")
NAN_CANDIDATE = (*NESTED, "--candidate", "model:make_nested_nan")  # output[0] gets one NaN


def strict_loads(text: str):
    """json.loads that rejects NaN, Infinity and -Infinity, as jq or JavaScript would."""
    def reject(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=reject)


# --- JSON ----------------------------------------------------------------------------------------

def test_json_with_nan_and_inf_is_strict(parity_in_process, tmp_path):
    """Regression: the JSON held `"required_atol": Infinity`, which strict parsers reject."""
    out = tmp_path / "r.json"
    result = run_cli("parity", *NAN_CANDIDATE, "--output-format", "json", "-o", out)
    assert result.exit_code == 1
    text = out.read_text()
    assert "Infinity" not in text and "NaN," not in text
    data = strict_loads(text)
    out0 = next(o for o in data["outputs"] if o["name"] == "output[0]")
    assert out0["required_atol"] == "inf" and out0["candidate_nonfinite"] == 1


def test_non_finite_floats_become_strings():
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": (0.0, "x"), "d": None}
    assert strict_json(value) == {"a": "nan", "b": ["inf", "-inf", 1.5], "c": [0.0, "x"], "d": None}
    assert strict_loads(render_json(value)) == strict_json(value)


# --- NaN/Inf in the table and the Markdown -------------------------------------------------------

def test_table_shows_nan_inf(parity_in_process):
    result = run_cli("parity", *NAN_CANDIDATE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "NaN/Inf" in result.stdout
    row = next(line for line in lines if line.strip("│ ").startswith("output[0] "))
    assert "0/1" in row and "inf" in row  # reference 0, candidate 1; needed atol inf
    assert "output[0]: 1 NaN/Inf value(s) where the reference differs" in result.stdout


def test_markdown_shows_nan_inf(parity_in_process, tmp_path):
    out = tmp_path / "r.md"
    result = run_cli("parity", *NAN_CANDIDATE, "--output-format", "markdown", "-o", out)
    assert result.exit_code == 1
    text = out.read_text()
    assert "| NaN/Inf ref/cand |" in text
    row = next(line for line in text.splitlines() if line.startswith("| `output[0]` |"))
    cells = [cell.strip() for cell in row.split("|")]
    assert "0/1" in cells and "inf" in cells
    assert "1 NaN/Inf value(s) where the reference differs" in row


# --- cosine --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (0.99982, "0.99982"), (0.9999036278758716, "0.999904"), (0.9999999989290931, "0.999999999"),
    (0.5, "0.5"), (-1.0, "-1"), (math.nan, "nan"),
    (0.9999999999999996, "1"), (1.0000000000000002, "1"),  # float64 rounding of identical tensors' cosine
])
def test_cosine_never_rounds_to_one(value, text):
    assert _fmt_cosine(value) == text


def test_markdown_cosine_of_a_real_comparison():
    """Regression: a cosine of 0.9999 was shown as 1."""
    ref = torch.linspace(1, 2, 100)
    comparison = compare_tensors("output", ref, ref + 0.03 * torch.sin(torch.arange(100.0)), 1e-5, 1e-5)
    assert 0.999 < comparison.cosine < 0.99999
    text = render_markdown({"passed": False, "candidate": "c", "outputs": [comparison.to_dict()]})
    row = next(line for line in text.splitlines() if line.startswith("| `output` |"))
    cosine_cell = row.split("|")[7].strip()
    assert cosine_cell == f"{comparison.cosine:.6g}" and float(cosine_cell) != 1.0
