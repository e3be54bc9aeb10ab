"""`porter kernels` commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from porter.cli import app

runner = CliRunner()


def test_list_names_every_kernel():
    result = runner.invoke(app, ["kernels", "list"])
    assert result.exit_code == 0, result.output
    for name in ("rmsnorm", "layernorm", "softmax", "swiglu", "geglu", "rotary", "matmul", "linear", "attention"):
        assert name in result.output


def test_list_json():
    result = runner.invoke(app, ["kernels", "list", "--output-format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert {r["name"] for r in records} >= {"attention", "rmsnorm"}
    assert all(r["tolerances"]["bfloat16"]["rtol"] == pytest.approx(2e-2) for r in records)


def test_test_command_reports_errors_per_case(nki_sim):
    result = runner.invoke(app, ["kernels", "test", "softmax", "--case", "3x10"])
    assert result.exit_code == 0, result.output
    assert "max_abs" in result.output and "float32" in result.output and "bfloat16" in result.output
    assert "2 passed, 0 failed" in result.output


def test_unknown_kernel_is_a_usage_error():
    result = runner.invoke(app, ["kernels", "test", "nope"])
    assert result.exit_code == 2


def test_profile_reports_engines_and_memory(nki_sim):
    result = runner.invoke(app, ["kernels", "profile", "rmsnorm", "--case", "5x33"])
    assert result.exit_code == 0, result.output
    assert "instructions per engine" in result.output
    assert "peak" in result.output


def test_bench_prints_both_times(nki_sim):
    result = runner.invoke(app, ["kernels", "bench", "swiglu", "--case", "4x37"])
    assert result.exit_code == 0, result.output
    assert "simulated s" in result.output and "reference s" in result.output


def test_test_command_exits_1_when_a_kernel_is_wrong(nki_sim, monkeypatch):
    import dataclasses

    from porter.kernels import registry

    good = registry.get("softmax")

    def wrong_launch(call, x):
        return good.launch(call, x) * 1.01  # a real kernel run, then a 1% error the reference does not have

    broken = dataclasses.replace(good, name="broken-softmax", launch=wrong_launch)
    monkeypatch.setitem(registry._REGISTRY, broken.name, broken)
    result = runner.invoke(app, ["kernels", "test", "broken-softmax", "--case", "129x333", "--dtype", "float32"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "0 passed, 1 failed" in result.output
