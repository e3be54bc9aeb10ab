"""Model entrypoints: [tool.porter.models.NAME], --model/--inputs, project isolation, shared weights."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import load_file

from porter.graph.entrypoints import EntrypointError, ModelSpec, normalise_inputs
from porter.graph.loader import ProjectLoader, _under, build, example_inputs, resolve
from porter.parity.models import parse_dtype, seeded_state
from tests.dynamic.conftest import FIXTURES, outputs_by_name, parity_json, run_cli

OUTPUTS = FIXTURES / "outputs"
ATTENTION = FIXTURES / "attention"
BROKEN = FIXTURES / "attention_broken"


# --- [tool.porter.models.NAME] -------------------------------------------------------------------

def test_model_table_with_every_key():
    spec = ModelSpec.from_table("m", {
        "factory": "model:make", "inputs": "model:inputs", "weights": "w.safetensors", "dtype": "bfloat16",
        "rtol": 0.1, "atol": 1, "tolerances": {"output[0]": [0.0, 0.5], "output[1]": {"atol": 2.0}},
    }, OUTPUTS, "pyproject.toml")
    assert (spec.factory, spec.inputs, spec.dtype, spec.rtol, spec.atol) == (
        "model:make", "model:inputs", "bfloat16", 0.1, 1)
    assert spec.weights_path() == OUTPUTS / "w.safetensors"
    # both spellings of a per-output tolerance become [rtol, atol]; the table form may leave one out
    assert spec.per_output == {"output[0]": [0.0, 0.5], "output[1]": [None, 2.0]}


@pytest.mark.parametrize("table, message", [
    ({"inputs": "model:inputs"}, "needs factory"),
    ({"factory": "model_make", "inputs": "model:inputs"}, "needs factory"),
    ({"factory": "model:make", "inputs": "model:inputs", "seed": 1}, "unknown keys ['seed']"),
    ({"factory": "model:make", "inputs": "model:inputs", "atol": "big"}, "atol must be a number"),
    ({"factory": "model:make", "inputs": "model:inputs", "tolerances": {"o": [1.0]}}, "expected [rtol, atol]"),
    ({"factory": "model:make", "inputs": "model:inputs", "tolerances": {"o": {"rtl": 1.0}}}, "unknown keys"),
])
def test_model_table_errors(table, message):
    with pytest.raises(EntrypointError) as info:
        ModelSpec.from_table("m", table, OUTPUTS, "pyproject.toml")
    assert message in str(info.value)


def test_several_models_need_a_name():
    result = run_cli("trace", "--root", OUTPUTS)
    assert result.exit_code == 2
    assert "several models" in result.stderr and "--name" in result.stderr


def test_unknown_name_and_missing_table(tmp_path):
    result = run_cli("trace", "--root", OUTPUTS, "--name", "nope")
    assert result.exit_code == 2 and "no [tool.porter.models.nope]" in result.stderr
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    result = run_cli("trace", "--root", tmp_path)
    assert result.exit_code == 2 and "--model and --inputs" in result.stderr


def test_model_table_validated_by_the_cli(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.porter.models.m]\nfactory = "model:make"\ninputs = "model:inputs"\nweigths = "w.pt"\n')
    result = run_cli("compile", "--root", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "unknown keys ['weigths']" in result.stderr
    (tmp_path / "pyproject.toml").write_text(
        '[tool.porter.models.m]\nfactory = "model:make"\ninputs = "model:inputs"\nweights = "w.pt"\n')
    result = run_cli("compile", "--root", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "weights file" in result.stderr and "does not exist" in result.stderr
    (tmp_path / "pyproject.toml").write_text(
        '[tool.porter.models.m]\nfactory = "model:make"\ninputs = "model:inputs"\ndtype = "int8"\n')
    result = run_cli("compile", "--root", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "not a floating torch dtype" in result.stderr


def test_model_and_inputs_options_go_together():
    result = run_cli("trace", "--root", OUTPUTS, "--model", "model:make_linear")
    assert result.exit_code == 2 and "--model and --inputs go together" in result.stderr
    result = run_cli("trace", "--root", OUTPUTS, "--model", "model.make_linear", "--inputs", "model:example_inputs")
    assert result.exit_code == 2 and "pkg.module:function" in result.stderr


def test_model_and_inputs_options_override_the_table():
    result = run_cli("trace", "--root", OUTPUTS, "--model", "model:make_linear", "--inputs", "model:example_inputs",
                     "--output-format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "model:make_linear"
    assert [op["op"] for op in report["ops"]] == ["aten.linear.default"]


@pytest.mark.parametrize("value, expected", [
    (torch.ones(1), ((torch.ones(1),), {})),
    ((torch.ones(1), 2), ((torch.ones(1), 2), {})),
    ([torch.ones(1)], ((torch.ones(1),), {})),
    ({"x": torch.ones(1)}, ((), {"x": torch.ones(1)})),
    (((torch.ones(1),), {"s": 2}), ((torch.ones(1),), {"s": 2})),
])
def test_normalise_inputs(value, expected):
    args, kwargs = normalise_inputs(value)
    assert len(args) == len(expected[0]) and set(kwargs) == set(expected[1])
    for got, want in zip(args, expected[0], strict=True):
        assert torch.equal(got, want) if isinstance(want, torch.Tensor) else got == want


def test_parse_dtype_aliases():
    assert parse_dtype("bf16") is torch.bfloat16
    assert parse_dtype("torch.float16") is torch.float16
    assert parse_dtype(None) is None
    with pytest.raises(EntrypointError):
        parse_dtype("int64")


# --- importing from two roots --------------------------------------------------------------------

def test_same_module_name_from_two_roots_stays_apart():
    ref_cls = type(build(ATTENTION, "model:make_model", 0).blocks[1].attn)
    cand_cls = type(build(BROKEN, "model:make_model", 0).blocks[1].attn)
    assert ref_cls is not cand_cls
    assert ref_cls.forward.__code__.co_filename == str(ATTENTION / "model.py")
    assert cand_cls.forward.__code__.co_filename == str(BROKEN / "model.py")
    # forgotten afterwards: neither root's `model` is left in sys.modules
    leftover = getattr(sys.modules.get("model"), "__file__", "") or ""
    assert not leftover.startswith(str(FIXTURES))


def test_a_module_already_imported_from_elsewhere_does_not_leak_in(monkeypatch):
    """Regression: a `model` module left in sys.modules by another root used to be reused."""
    with ProjectLoader(ATTENTION) as loader:
        stale = sys.modules[loader.resolve("model:make_model").__module__]
    monkeypatch.setitem(sys.modules, "model", stale)  # as if an earlier load had leaked it
    fn = resolve("model:make_model", BROKEN)
    assert fn.__module__ == "model" and fn.__globals__["__file__"].startswith(str(BROKEN))
    assert sys.modules["model"] is stale  # put back afterwards


def test_root_prefix_is_not_a_parent():
    assert _under("/a/b/model.py", "/a/b")
    assert not _under("/a/b2/model.py", "/a/b")


def test_bad_references():
    with pytest.raises(EntrypointError, match="cannot import"):
        resolve("no_such_module:f", OUTPUTS)
    with pytest.raises(EntrypointError, match="no attribute"):
        resolve("model:no_such_function", OUTPUTS)
    with pytest.raises(EntrypointError, match="expected pkg.module:function"):
        resolve("model", OUTPUTS)
    with pytest.raises(EntrypointError, match="not a torch.nn.Module"):
        build(OUTPUTS, "model:example_inputs", 0)


# --- one seeded state_dict -----------------------------------------------------------------------

def test_seeded_state_replaces_uninitialised_values():
    model = build(OUTPUTS, "model:make_uninitialised", 0)
    state = seeded_state(model, seed=0)
    assert all(bool(torch.isfinite(v).all()) for v in state.values())
    again = seeded_state(model, seed=0)
    assert torch.equal(state["bias"], again["bias"])  # seeded: the same numbers every time
    assert not torch.equal(state["bias"], seeded_state(model, seed=1)["bias"])


def test_build_fills_empty_parameters_with_nan_and_restores_the_callers_setting():
    # finite garbage (say 1e38) in a torch.empty weight would pass a NaN check and overflow later
    torch.use_deterministic_algorithms(False)
    for _ in range(3):
        model = build(OUTPUTS, "model:make_uninitialised", 0)
        assert bool(torch.isnan(model.weight).all())
    assert not torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        build(OUTPUTS, "model:make_uninitialised", 0)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_example_inputs_are_seeded_and_keyword_inputs_work():
    a1, k1 = example_inputs(OUTPUTS, "model:keyword_inputs", 0)
    a2, _ = example_inputs(OUTPUTS, "model:keyword_inputs", 0)
    assert torch.equal(a1[0], a2[0]) and set(k1) == {"scale"}


def test_model_with_empty_params_compares_equal_to_its_port(parity_in_process, outputs_port, tmp_path):
    code, data = parity_json("--root", OUTPUTS, "--name", "uninitialised", "--candidate-root", outputs_port,
                             out=tmp_path / "r.json")
    assert code == 0 and data["passed"]
    (output,) = data["outputs"]
    # equal, and on real numbers: not NaN == NaN
    assert output["reference_nonfinite"] == 0 and output["max_abs"] == 0.0


def test_keyword_inputs_parity(parity_in_process, outputs_port, tmp_path):
    code, data = parity_json("--root", OUTPUTS, "--name", "keywords", "--candidate-root", outputs_port,
                             out=tmp_path / "r.json")
    assert code == 0 and data["passed"] and data["outputs"][0]["shape"] == [2, 8]


def test_candidate_defaults_to_the_same_entrypoint_in_the_ported_tree(parity_in_process, tmp_path):
    code, data = parity_json("--root", ATTENTION, "--candidate-root", BROKEN, out=tmp_path / "r.json")
    assert code == 1 and not data["passed"]
    request = data["request"]
    assert request["candidate_factory"] == request["reference_factory"] == "model:make_model"
    assert request["candidate_root"] == str(BROKEN) and request["reference_root"] == str(ATTENTION)


def test_candidate_factory_option(parity_in_process, tmp_path):
    code, data = parity_json("--root", OUTPUTS, "--name", "nested", "--candidate", "model:make_nested_offset_logits",
                             out=tmp_path / "r.json")
    assert code == 1
    by_name = outputs_by_name(data)
    assert not by_name["output[1]['logits']"]["passed"]
    assert by_name["output[0]"]["passed"] and by_name["output[2].hidden"]["passed"]


def test_weights_file_is_what_both_models_load(parity_in_process, outputs_port, tmp_path):
    golden = tmp_path / "golden"
    code, data = parity_json("--root", OUTPUTS, "--name", "weighted", "--candidate-root", outputs_port,
                             "--save-golden", golden, out=tmp_path / "r.json")
    assert code == 0 and data["passed"]
    assert data["request"]["weights"] == str(OUTPUTS / "weights" / "linear.safetensors")
    saved = load_file(str(golden / "weights.safetensors"))
    assert torch.equal(saved["0.weight"], torch.full((4, 8), 0.25)) and torch.equal(saved["0.bias"], torch.ones(4))
    outputs = load_file(str(golden / "golden.safetensors"))
    x = outputs["input/arg0"]
    assert torch.allclose(outputs["output/output"], x.sum(-1, keepdim=True).expand(3, 4) * 0.25 + 1.0)


def test_dtype_runs_both_models_in_it(parity_in_process, outputs_port, tmp_path):
    code, data = parity_json("--root", OUTPUTS, "--name", "half", "--candidate-root", outputs_port,
                             out=tmp_path / "r.json")
    assert code == 0
    (output,) = data["outputs"]
    assert output["dtype"] == "bfloat16"
    assert (output["rtol"], output["atol"]) == (1.6e-2, 1e-5)  # bf16 defaults, not fp32's
