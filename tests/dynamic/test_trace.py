"""`porter trace`: the torch.export operator inventory, a Neuron verdict per op, graph breaks and
data-dependent control flow with their source lines, kernel hints, and the three output formats."""

from __future__ import annotations

import json

import pytest
import torch

from porter.graph.compat import CAVEAT, FALLBACK, SUPPORTED, UNKNOWN, UNSUPPORTED, verdict
from porter.graph.trace import trace_model
from tests.dynamic.conftest import FIXTURES, marker_line, run_cli

TRACING = FIXTURES / "tracing"
MODEL = TRACING / "model.py"


def trace_json(name: str, target: str = "neuron") -> tuple[int, dict]:
    result = run_cli("trace", "--root", TRACING, "--name", name, "--output-format", "json", "--target", target)
    return result.exit_code, json.loads(result.stdout)


def source_of(op: dict) -> str:
    return op["sources"][0] if op["sources"] else ""


def at(marker: str) -> str:
    return f"{MODEL}:{marker_line(MODEL, marker)} "


@pytest.fixture(scope="module")
def unsupported_report():
    return trace_json("unsupported", target="xla")


# --- compat table --------------------------------------------------------------------------------

@pytest.mark.parametrize("target, dtypes, status", [
    ("aten.add.Tensor", {"float32"}, SUPPORTED),
    ("aten.softmax.int", {"float32"}, SUPPORTED),          # reaches the compiler as _softmax
    ("aten.sort.default", {"float32"}, UNSUPPORTED),
    ("aten.sort.default", {"float64"}, UNSUPPORTED),       # still a sort: the dtype caveat must not hide it
    ("aten.fft_rfft.default", {"complex64", "float32"}, UNSUPPORTED),
    ("aten.nonzero.default", {"bool", "int64"}, UNSUPPORTED),
    ("aten.topk.default", {"int64"}, UNSUPPORTED),
    ("aten.add.Tensor", {"complex64"}, UNSUPPORTED),
    ("aten.mul.Tensor", {"float64"}, CAVEAT),
    ("aten.embedding.default", {"int64", "float32"}, CAVEAT),
    ("aten.cumsum.default", {"float32"}, UNKNOWN),
])
def test_xla_verdicts(target, dtypes, status):
    assert verdict(target, dtypes, device_target="xla").status == status


@pytest.mark.parametrize("target, status", [
    # what `porter trace` used to call "not listed" on a GPT or a ViT
    ("aten.linear.default", SUPPORTED), ("aten.layer_norm.default", SUPPORTED), ("aten.gelu.default", SUPPORTED),
    ("aten.scaled_dot_product_attention.default", SUPPORTED), ("aten.split.Tensor", SUPPORTED),
    ("aten.cat.default", SUPPORTED), ("aten.mean.dim", SUPPORTED),
    ("aten.sort.default", FALLBACK), ("aten.nonzero.default", FALLBACK),  # TorchNeuron runs them on the CPU
    ("aten.int_repr.default", UNSUPPORTED),  # quantized: N
    ("aten._fused_adamw_.default", UNKNOWN),  # nothing in the sources: unknown, not "supported"
])
def test_neuron_verdicts_come_from_the_op_table(target, status):
    assert verdict(target, {"float32"}).status == status


def test_neuron_trace_has_no_not_listed_for_common_ops():
    code, report = trace_json("unsupported")
    ops = {op["op"]: op for op in report["ops"]}
    assert ops["aten.sort.default"]["status"] == FALLBACK
    assert source_of(ops["aten.sort.default"]).startswith(at("sort"))
    assert report["target"] == "neuron" and {op["op"] for op in report["cpu_fallback"]} >= {"aten.sort.default"}
    assert not [op for op in report["ops"] if op["status"] == "not listed"]


def test_xla_target_judges_composite_ops_by_what_they_decompose_into():
    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x).reshape(2, 4)

    report = trace_model(Mlp(), (torch.ones(2, 4),), {}, "mlp", target="xla")
    ops = {op.target: op for op in report.ops}
    linear = ops["aten.linear.default"]
    assert linear.status == SUPPORTED and "addmm" in linear.note  # t + addmm, both in the XLA list
    assert ops["aten.reshape.default"].status == SUPPORTED


@pytest.mark.parametrize("target, dtypes, data_dtypes, status", [
    # a float topk returns int64 indices; a float scatter_reduce takes an int64 index
    ("aten.topk.default", {"float32", "int64"}, {"float32"}, CAVEAT),
    ("aten.topk.default", {"int32", "int64"}, {"int32"}, UNSUPPORTED),
    ("aten.scatter_reduce.two", {"float32", "int64"}, {"float32"}, CAVEAT),
    ("aten.scatter_reduce.two", {"int64"}, {"int64"}, UNSUPPORTED),
    ("aten.scatter_reduce.two", {"bool", "int64"}, {"bool"}, UNSUPPORTED),
])
def test_integer_rules_judge_the_data_operands(target, dtypes, data_dtypes, status):
    assert verdict(target, dtypes, data_dtypes).status == status
    assert verdict(target, dtypes, data_dtypes, device_target="xla").status == status


def test_float_topk_and_scatter_reduce_are_not_integer_ops():
    """Regression: every float topk was flagged "topk on integers" because of its int64 indices."""
    code, report = trace_json("topk")
    assert code == 0 and report["unsupported"] == []
    ops = {op["op"]: op for op in report["ops"]}
    topk, scatter = ops["aten.topk.default"], ops["aten.scatter_reduce.two"]
    assert topk["status"] == CAVEAT and "int32" in topk["note"]  # the int64 indices: the downcast caveat only
    assert {"float32", "int64"} <= set(topk["dtypes"])
    assert source_of(topk).startswith(at("float_topk"))
    assert scatter["status"] == CAVEAT and source_of(scatter).startswith(at("float_scatter"))


def test_integer_topk_and_scatter_reduce_are_flagged():
    code, report = trace_json("int_topk")
    assert code == 1
    ops = {op["op"]: op for op in report["ops"]}
    topk, scatter = ops["aten.topk.default"], ops["aten.scatter_reduce.two"]
    assert topk["status"] == UNSUPPORTED and "NCC_EVRF013" in topk["note"]
    assert source_of(topk).startswith(at("int_topk"))
    assert scatter["status"] == UNSUPPORTED and "NCC_EVRF016" in scatter["note"]
    assert source_of(scatter).startswith(at("int_scatter"))
    assert {op["op"] for op in report["unsupported"]} == {"aten.topk.default", "aten.scatter_reduce.two"}


def test_int64_caveat_says_int32():
    assert "int32" in verdict("aten.embedding.default", {"int64"}).note


# --- the inventory -------------------------------------------------------------------------------

def test_documented_unsupported_ops_with_source_lines(unsupported_report):
    code, report = unsupported_report
    assert code == 1  # unsupported ops: exit 1
    ops = {op["op"]: op for op in report["ops"]}
    expected = {"aten.sort.default": "sort", "aten.fft_rfft.default": "fft", "aten.nonzero.default": "nonzero"}
    for op, marker in expected.items():
        assert ops[op]["status"] == UNSUPPORTED, op
        assert source_of(ops[op]).startswith(at(marker)), (op, source_of(ops[op]))
        assert ops[op]["count"] == 1
    assert {op["op"] for op in report["unsupported"]} >= set(expected)
    assert ops["aten.to.dtype"]["status"] == CAVEAT and "float64" in ops["aten.to.dtype"]["dtypes"]
    assert "float64" in ops["aten.to.dtype"]["note"] and source_of(ops["aten.to.dtype"]).startswith(at("float64"))
    assert 0 < report["support_percent"] < 100


def test_bookkeeping_nodes_are_not_counted(unsupported_report):
    _, report = unsupported_report
    names = {op["op"].split(".")[1] for op in report["ops"]}
    assert not names & {"sym_size", "_assert_scalar", "_assert_tensor_metadata"}


def test_data_dependent_shape_is_reported(unsupported_report):
    _, report = unsupported_report
    assert any(d.startswith("nonzero") for d in report["dynamic_shapes"])
    kinds = {b["kind"] for b in report["graph_breaks"]}
    assert "data-dependent shape" in kinds
    assert any(b["source"].startswith(at("nonzero")) for b in report["graph_breaks"])


def test_op_counts_and_int64_caveat():
    code, report = trace_json("tokens")
    assert code == 0  # caveats are not failures
    ops = {op["op"]: op for op in report["ops"]}
    assert ops["aten.embedding.default"]["status"] == CAVEAT
    assert "int32" in ops["aten.embedding.default"]["note"]
    assert ops["aten.linear.default"]["count"] == 1
    assert source_of(ops["aten.embedding.default"]).startswith(at("embedding"))


def test_counts_add_up():
    class Repeat(torch.nn.Module):
        def forward(self, x):
            for _ in range(3):
                x = x + 1
            return x * 2

    report = trace_model(Repeat(), (torch.ones(2),), {}, "repeat")
    counts = {op.target: op.count for op in report.ops}
    assert counts == {"aten.add.Tensor": 3, "aten.mul.Tensor": 1}
    assert report.support_percent == 100.0


def test_data_dependent_control_flow_names_the_line():
    code, report = trace_json("control")
    assert code == 1 and not report["exported"]
    assert "data-dependent" in report["export_error"].lower() or "GuardOnDataDependent" in report["export_error"]
    (brk,) = report["graph_breaks"]
    assert brk["kind"] == "data-dependent control flow"
    assert brk["source"].startswith(at("branch"))


def test_graph_break_names_the_line():
    code, report = trace_json("breaks")
    assert code == 0 and report["exported"]
    (brk,) = report["graph_breaks"]
    assert brk["source"].startswith(at("graph_break")) and "graph_break" in brk["reason"]


def test_kernel_hints_for_patterns_and_ops():
    _, report = trace_json("norms")
    hints = {(h["kernel"], h["source"].split(" ")[0]) for h in report["kernel_hints"]}
    assert ("rmsnorm", at("rmsnorm").strip()) in hints
    assert ("softmax", at("manual_softmax").strip()) in hints
    assert ("softmax", at("softmax").strip()) in hints
    ops = {op["op"]: op for op in report["ops"]}
    assert ops["aten.softmax.int"]["kernel"] == "softmax"


def test_no_pattern_hint_without_the_pattern():
    class NotRMS(torch.nn.Module):
        def forward(self, x):
            return x * torch.rsqrt(x.abs() + 1)  # rsqrt, but not of mean(x^2)

    report = trace_model(NotRMS(), (torch.ones(2, 4),), {}, "m")
    assert [h for h in report.kernel_hints if h["kernel"] == "rmsnorm"] == []


# --- formats and errors --------------------------------------------------------------------------

def test_text_and_markdown_outputs(tmp_path):
    result = run_cli("trace", "--root", TRACING, "--name", "norms")
    assert result.exit_code == 0
    assert "porter trace: norms" in result.stdout and "Neuron support:" in result.stdout
    assert "kernel hints:" in result.stdout and "rmsnorm" in result.stdout
    out = tmp_path / "trace.md"
    result = run_cli("trace", "--root", TRACING, "--name", "unsupported", "--output-format", "markdown", "-o", out)
    assert result.exit_code == 1 and result.stdout == ""
    text = out.read_text()
    assert text.startswith("# porter trace: `unsupported`")
    assert "| `aten.sort.default` | 1 | cpu fallback |" in text
    assert "## Graph breaks" in text


def test_bad_output_format():
    result = run_cli("trace", "--root", TRACING, "--name", "clean", "--output-format", "sarif")
    assert result.exit_code == 2 and "--output-format" in result.stderr


def test_exception_in_user_code_is_an_error_not_a_finding():
    result = run_cli("trace", "--root", OUTPUTS_ROOT, "--name", "raising")
    assert result.exit_code == 2
    assert "user factory exploded" in result.stderr


def test_bad_factory_path():
    result = run_cli("trace", "--root", OUTPUTS_ROOT, "--name", "missing")
    assert result.exit_code == 2 and "cannot import no_such_module" in result.stderr


OUTPUTS_ROOT = FIXTURES / "outputs"
