"""`porter parity`: per-output metrics on nested outputs, tolerances, NaN/Inf, needed atol, goldens,
three-way mode, the four output formats, and the exit codes (0 pass, 1 mismatch, 2 error)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import namedtuple
from xml.etree import ElementTree as ET

import pytest
import torch

from porter.parity.compare import Tolerances, compare_outputs, compare_tensors, default_tolerance, flatten
from tests.dynamic.conftest import FIXTURES, outputs_by_name, parity_json, run_cli

OUTPUTS = FIXTURES / "outputs"
NESTED = ("--root", OUTPUTS, "--name", "nested")


# --- metrics -------------------------------------------------------------------------------------

def test_metrics_of_one_comparison():
    ref = torch.tensor([[1.0, 2.0], [4.0, -8.0]])
    cand = torch.tensor([[1.0, 2.5], [4.0, -8.0]])
    c = compare_tensors("out", ref, cand, rtol=0.0, atol=0.1)
    assert not c.passed
    assert c.max_abs == 0.5 and c.max_abs_index == (0, 1)
    assert c.max_rel == 0.25 and c.mean_abs == 0.125
    assert c.mismatch_percent == 25.0 and c.required_atol == 0.5
    assert 0.99 < c.cosine < 1.0
    assert (c.shape, c.dtype) == ((2, 2), "float32")


def test_needed_atol_is_the_boundary():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(50, generator=g)
    cand = ref + torch.randn(50, generator=g) * 1e-3
    needed = compare_tensors("o", ref, cand, rtol=1e-3, atol=0.0).required_atol
    assert needed > 0
    assert compare_tensors("o", ref, cand, rtol=1e-3, atol=needed * 1.01).passed
    assert not compare_tensors("o", ref, cand, rtol=1e-3, atol=needed * 0.9).passed


@pytest.mark.parametrize("ref, cand, passed", [
    ([1.0, math.nan], [1.0, math.nan], True),      # NaN where the reference has NaN
    ([1.0, math.inf], [1.0, math.inf], True),
    ([1.0, 2.0], [1.0, math.nan], False),           # NaN appears
    ([1.0, math.inf], [1.0, -math.inf], False),     # opposite infinities
    ([1.0, math.nan], [1.0, 2.0], False),           # NaN disappears
])
def test_nan_and_inf(ref, cand, passed):
    c = compare_tensors("o", torch.tensor(ref), torch.tensor(cand), rtol=1e-5, atol=1e-5)
    assert c.passed is passed
    assert c.reference_nonfinite == sum(not math.isfinite(v) for v in ref)
    assert c.candidate_nonfinite == sum(not math.isfinite(v) for v in cand)
    if not passed:
        assert "NaN/Inf" in c.problem and c.required_atol == math.inf


def test_complex_outputs_compare_the_imaginary_part():
    """Regression: the float64 cast dropped the imaginary part, so 1+1j == 1+2j passed."""
    c = compare_tensors("o", torch.tensor([1 + 1j]), torch.tensor([1 + 2j]), rtol=0.0, atol=1e-5)
    assert not c.passed and c.max_abs == 1.0 and c.max_abs_index == (0,)
    assert compare_tensors("o", torch.tensor([1 + 1j]), torch.tensor([1 + 1j]), rtol=0.0, atol=0.0).passed


def test_shape_mismatch_and_scalars():
    c = compare_tensors("o", torch.ones(2, 3), torch.ones(3, 2), 0, 0)
    assert not c.passed and "shape" in c.problem
    assert compare_tensors("s", torch.tensor(1.0), torch.tensor(1.0), 0, 0).max_abs_index == ()


@pytest.mark.parametrize("dtype, expected", [
    (torch.float32, (1.3e-6, 1e-5)), (torch.bfloat16, (1.6e-2, 1e-5)), (torch.float16, (1e-3, 1e-5)),
    (torch.float64, (1e-7, 1e-7)), (torch.int64, (0.0, 0.0)), (torch.bool, (0.0, 0.0)),
])
def test_dtype_aware_default_tolerances(dtype, expected):
    assert default_tolerance(dtype) == expected
    assert Tolerances().for_output("x", dtype) == expected


def test_bf16_error_passes_in_bf16_and_fails_in_fp32():
    ref = torch.linspace(1, 2, 64)
    cand = ref.to(torch.bfloat16).float()
    assert not compare_outputs(ref, cand)[0].passed
    assert compare_outputs(ref.to(torch.bfloat16), cand.to(torch.bfloat16))[0].passed


def test_tolerance_overrides():
    t = Tolerances(rtol=0.5, atol=None, per_output={"output[1]": (None, 3.0)})
    assert t.for_output("output[0]", torch.float32) == (0.5, 1e-5)
    assert t.for_output("output[1]", torch.float32) == (0.5, 3.0)


def test_integer_outputs_are_exact():
    (c,) = compare_outputs(torch.tensor([1, 2, 3]), torch.tensor([1, 2, 4]))
    assert not c.passed and c.mismatch_percent == pytest.approx(100 / 3)


@dataclasses.dataclass
class Out:
    logits: torch.Tensor
    cache: tuple


Pair = namedtuple("Pair", "left right")


def test_nested_output_names():
    value = (torch.ones(1), {"k": [torch.ones(1), None]}, Out(torch.ones(1), (torch.ones(1), 3)),
             Pair(torch.ones(1), "s"))
    assert [name for name, _ in flatten(value)] == [
        "output[0]", "output[1]['k'][0]", "output[1]['k'][1]", "output[2].logits", "output[2].cache[0]",
        "output[2].cache[1]", "output[3].left", "output[3].right"]
    with pytest.raises(TypeError, match="cannot compare a object"):
        list(flatten(object()))


def test_missing_extra_and_non_tensor_leaves():
    results = {c.name: c for c in compare_outputs({"a": torch.ones(1), "b": 2}, {"a": 1.0, "b": 3, "c": torch.ones(1)})}
    assert results["output['a']"].problem == "tensor compared with a non-tensor"
    assert "3 != reference 2" in results["output['b']"].problem
    assert results["output['c']"].problem == "not in the reference"
    assert not any(c.passed for c in results.values())


# --- the command, in process ---------------------------------------------------------------------

def test_nested_outputs_each_compared(parity_in_process, outputs_port, tmp_path):
    code, data = parity_json(*NESTED, "--candidate-root", outputs_port, out=tmp_path / "r.json")
    assert code == 0 and data["passed"] and data["mode"] == "eager"
    by_name = outputs_by_name(data)
    assert set(by_name) == {"output[0]", "output[1]['logits']", "output[1]['aux'][0]", "output[1]['aux'][1]",
                            "output[2].hidden", "output[2].mask"}
    assert by_name["output[2].mask"]["dtype"] == "bool" and by_name["output[2].mask"]["atol"] == 0.0
    assert by_name["output[0]"]["rtol"] == 1.3e-6


def test_global_and_per_output_tolerances(parity_in_process, tmp_path):
    off = ("--candidate", "model:make_nested_offset_logits")
    code, data = parity_json(*NESTED, *off, out=tmp_path / "a.json")
    assert code == 1
    needed = outputs_by_name(data)["output[1]['logits']"]["required_atol"]
    assert needed == pytest.approx(0.01, rel=1e-3)
    # --atol for every output
    code, _ = parity_json(*NESTED, *off, "--atol", "0.02", out=tmp_path / "b.json")
    assert code == 0
    # --rtol alone cannot cover an absolute offset on near-zero logits
    code, _ = parity_json(*NESTED, *off, "--rtol", "1e-3", out=tmp_path / "c.json")
    assert code == 1
    # a per-output tolerance loosens only that output
    code, data = parity_json(*NESTED, *off, "--tolerance", "output[1]['logits']=0,0.02", out=tmp_path / "d.json")
    assert code == 0
    assert outputs_by_name(data)["output[1]['logits']"]["atol"] == 0.02
    assert outputs_by_name(data)["output[0]"]["atol"] == 1e-5
    # the needed atol, given back, passes
    code, _ = parity_json(*NESTED, *off, "--atol", f"{needed * 1.01}", out=tmp_path / "e.json")
    assert code == 0


def test_tolerances_from_the_model_table(parity_in_process, tmp_path):
    code, data = parity_json("--root", OUTPUTS, "--name", "tolerant", "--candidate", "model:make_nested_offset_logits",
                             out=tmp_path / "r.json")
    assert code == 0, data
    by_name = outputs_by_name(data)
    assert by_name["output[1]['logits']"]["atol"] == 0.05
    assert (by_name["output[0]"]["rtol"], by_name["output[0]"]["atol"]) == (0.0, 1e-5)
    # the command line wins over the table
    code, _ = parity_json("--root", OUTPUTS, "--name", "tolerant", "--candidate", "model:make_nested_offset_logits",
                          "--tolerance", "output[1]['logits']=0,1e-3", out=tmp_path / "s.json")
    assert code == 1


def test_nan_in_candidate_is_a_mismatch(parity_in_process, tmp_path):
    code, data = parity_json(*NESTED, "--candidate", "model:make_nested_nan", out=tmp_path / "r.json")
    assert code == 1
    out0 = outputs_by_name(data)["output[0]"]
    assert out0["candidate_nonfinite"] == 1 and "NaN/Inf" in out0["problem"]


@pytest.mark.parametrize("item", ["output[0]", "output[0]=1", "=0,1", "output[0]=a,b"])
def test_bad_tolerance_option(item):
    result = run_cli("parity", *NESTED, "--tolerance", item)
    assert result.exit_code == 2 and "NAME=RTOL,ATOL" in result.stderr


def test_golden_round_trip(parity_in_process, tmp_path):
    golden = tmp_path / "golden"
    # no candidate: the golden is saved and nothing is compared (no PASS claimed)
    code, data = parity_json(*NESTED, "--save-golden", golden, out=tmp_path / "save.json")
    assert code == 0 and data["golden_saved"] == str(golden)
    assert data["mode"] == "save-golden" and data["passed"] is None and data["outputs"] == []
    assert len(data["golden_outputs"]) == 6
    info = json.loads((golden / "golden.json").read_text())
    assert info["args"] == ["arg0"] and "output[1]['aux'][1]" in info["scalars"]
    # the same model against the golden: pass
    code, data = parity_json(*NESTED, "--golden", golden, out=tmp_path / "same.json")
    assert code == 0 and data["mode"] == "golden" and data["passed"]
    assert len(data["outputs"]) == 6
    # a changed model against the golden: mismatch
    code, data = parity_json(*NESTED, "--golden", golden, "--candidate", "model:make_nested_broken",
                             out=tmp_path / "changed.json")
    assert code == 1 and not outputs_by_name(data)["output[0]"]["passed"]
    # the golden alone is enough: no reference code needed (a root without the reference's module)
    code, data = parity_json("--root", tmp_path, "--model", "model:make_nested", "--inputs", "model:unused",
                             "--candidate-root", OUTPUTS, "--golden", golden, out=tmp_path / "alone.json")
    assert code == 0, data


def test_missing_golden_is_an_error(parity_in_process, tmp_path):
    code, data = parity_json(*NESTED, "--golden", tmp_path / "nowhere", out=tmp_path / "r.json")
    assert code == 2 and "golden.json" in data["error"]


def test_three_way_tells_precision_loss_from_a_porting_bug(parity_in_process, outputs_port, tmp_path):
    """--three-way: the ratio verdict at bfloat16. An error far below bf16's own passes; a 50% one fails."""
    code, data = parity_json(*NESTED, "--three-way", "--candidate", "model:make_nested_slightly_off",
                             out=tmp_path / "a.json")
    assert code == 0, data
    assert data["verdict_mode"] == "ratio" and data["target_dtype"] == "bfloat16"
    assert outputs_by_name(data)["output[0]"]["ratio"] < 1.2
    code, data = parity_json(*NESTED, "--three-way", "--candidate", "model:make_nested_broken",
                             out=tmp_path / "b.json")
    assert code == 1 and data["verdict"] == "fail"
    assert outputs_by_name(data)["output[0]"]["ratio"] > 10
    # the same code at bf16 is the baseline itself: ratio exactly 1
    code, data = parity_json(*NESTED, "--three-way", "--candidate-root", outputs_port, out=tmp_path / "c.json")
    assert code == 0 and outputs_by_name(data)["output[0]"]["ratio"] == 1.0
    assert outputs_by_name(data)["output[2].mask"]["verdict"] == "pass"  # a bool output: compared exactly


# --- output formats ------------------------------------------------------------------------------

def test_table_output(parity_in_process, outputs_port):
    result = run_cli("parity", *NESTED, "--candidate", "model:make_nested_offset_logits")
    assert result.exit_code == 1
    assert "MISMATCH" in result.stdout and "output[1]['logits']" in result.stdout and "needed atol" in result.stdout
    result = run_cli("parity", *NESTED, "--candidate-root", outputs_port)
    assert result.exit_code == 0 and "PASS" in result.stdout


def test_junit_output(parity_in_process, tmp_path):
    out = tmp_path / "parity.xml"
    result = run_cli("parity", *NESTED, "--candidate", "model:make_nested_offset_logits", "--output-format", "junit",
                     "-o", out)
    assert result.exit_code == 1
    suite = ET.parse(out).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "6" and suite.get("failures") == "1"
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == ["nested: output[1]['logits']"]  # the model names the case
    assert {case.get("classname") for case in suite.iter("testcase")} == {"porter.parity.nested"}
    assert "max abs" in failed[0].find("failure").text


def test_markdown_output(parity_in_process, tmp_path):
    out = tmp_path / "parity.md"
    result = run_cli("parity", *NESTED, "--candidate", "model:make_nested_offset_logits", "--output-format",
                     "markdown", "-o", out)
    assert result.exit_code == 1
    text = out.read_text()
    assert text.startswith("### porter parity `nested`: ❌ mismatch")
    assert "| output | pass | max abs (index) |" in text and "| `output[1]['logits']` | ❌ |" in text


def test_json_to_stdout(parity_in_process, outputs_port):
    result = run_cli("parity", *NESTED, "--candidate-root", outputs_port, "--output-format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["passed"] is True


def test_bad_output_format():
    result = run_cli("parity", *NESTED, "--output-format", "html")
    assert result.exit_code == 2 and "--output-format" in result.stderr


def test_error_still_writes_the_ci_report(parity_in_process, outputs_port, tmp_path):
    out = tmp_path / "parity.xml"
    result = run_cli("parity", "--root", OUTPUTS, "--name", "raising", "--candidate-root", outputs_port,
                     "--output-format", "junit", "-o", out)
    assert result.exit_code == 2
    suite = ET.parse(out).getroot()
    assert suite.get("errors") == "1" and "user factory exploded" in suite.find("testcase/error").get("message")


# --- exit codes through the real worker subprocess -----------------------------------------------

def test_bad_factory_path_exits_2(outputs_port):
    result = run_cli("parity", "--root", OUTPUTS, "--name", "missing", "--candidate-root", outputs_port)
    assert result.exit_code == 2
    assert "cannot import no_such_module" in result.stderr


def test_exception_in_user_code_exits_2(outputs_port):
    result = run_cli("parity", "--root", OUTPUTS, "--name", "raising", "--candidate-root", outputs_port)
    assert result.exit_code == 2
    assert "RuntimeError: user factory exploded" in result.stderr


def test_timeout_exits_2(outputs_port):
    # the worker sleeps 300 s: the run ends at the timeout because the worker is killed
    result = run_cli("parity", "--root", OUTPUTS, "--name", "sleepy", "--candidate-root", outputs_port, "--timeout",
                     "8")
    assert result.exit_code == 2
    assert "did not finish within 8 s" in result.stderr


def test_non_positive_timeout():
    result = run_cli("parity", *NESTED, "--timeout", "0")
    assert result.exit_code == 2 and "--timeout" in result.stderr


def test_worker_finds_porter_from_any_directory(tmp_path, monkeypatch, outputs_port):
    """The worker is `python -m porter.parity.worker`: its PYTHONPATH carries the directory porter was
    imported from, so an uninstalled checkout works from any directory (porter is installed editable
    here, so this checks the environment given to the worker and a run from an unrelated directory)."""
    import porter
    from porter.commands.parity import _worker_env

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env = _worker_env()
    assert str(ROOT_OF_PORTER) in env["PYTHONPATH"].split(":")
    assert ROOT_OF_PORTER == __import__("pathlib").Path(porter.__file__).resolve().parents[1]
    code, data = parity_json("--root", OUTPUTS, "--name", "keywords", "--candidate-root", outputs_port,
                             out=tmp_path / "r.json")
    assert code == 0 and data["passed"]


ROOT_OF_PORTER = FIXTURES.parents[2]
