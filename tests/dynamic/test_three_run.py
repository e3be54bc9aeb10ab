"""The three-run verdict: error ratio against the reference at the target precision, marginal band,
perturbation baseline, the precision a run is made at, and porter's own failing runs named as such
(a vision transformer with rotary embeddings that cannot be cast wholly to bfloat16)."""

from __future__ import annotations

import shutil

import pytest
import torch

from porter.parity.precision import cast_model, perturb_embeddings, perturbed
from porter.parity.verdict import Thresholds, ratio_verdicts
from tests.dynamic.conftest import FIXTURES, outputs_by_name, parity_json, run_cli

VIT = FIXTURES / "rotary_vit"
BLAME = FIXTURES / "blame"
OUTPUTS = FIXTURES / "outputs"


@pytest.fixture
def vit_port(tmp_path):
    port = tmp_path / "vit_port"
    shutil.copytree(VIT, port)
    return port


def test_ratio_grades():
    ref = torch.linspace(-1, 1, 100)
    base = ref + 0.01 * torch.sin(torch.arange(100.0))
    t = Thresholds()
    for scale, grade in ((1.0, "pass"), (1.5, "marginal"), (3.0, "fail")):
        cand = ref + scale * 0.01 * torch.cos(torch.arange(100.0))
        (c,), dist = ratio_verdicts(ref, cand, base, torch.bfloat16, t)
        assert c.verdict == grade and c.passed is (grade == "pass")
        assert c.ratio == pytest.approx(float((cand - ref).norm() / (base - ref).norm()))
        assert len(dist["output"]["candidate_quantiles"]) == len(dist["output"]["baseline_quantiles"])
    (c,), _ = ratio_verdicts(ref, ref + 0.015 * torch.cos(torch.arange(100.0)), base, torch.bfloat16,
                             Thresholds(allow_marginal=True))
    assert c.verdict == "marginal" and c.passed


def test_integer_outputs_and_an_exact_baseline_fall_back_to_exact_checks():
    ints = torch.tensor([1, 2, 3])
    (c,), _ = ratio_verdicts(ints, ints + 1, ints, torch.bfloat16, Thresholds())
    assert not c.passed and c.ratio is None
    ref = torch.tensor([0.5, 0.25])  # exactly representable: the bf16 reference equals the fp32 one
    (c,), _ = ratio_verdicts(ref, ref + 0.1, ref, torch.bfloat16, Thresholds())
    assert c.ratio == float("inf") and not c.passed and "baseline is exact" in c.problem


def test_cast_keeps_complex_buffers_complex():
    """Module.to(torch.bfloat16) drops the imaginary part of a complex buffer (with a warning)."""
    module = torch.nn.Module()
    module.register_buffer("cis", torch.polar(torch.ones(3), torch.tensor([0.1, 0.2, 0.3])))
    module.register_buffer("weight", torch.ones(2))
    cast_model(module, torch.bfloat16)
    assert module.cis.dtype == torch.complex64 and module.weight.dtype == torch.bfloat16


def test_perturbation_is_one_epsilon():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1000) + 1
    moved = perturbed(x, torch.bfloat16, g)
    rel = ((moved - x) / x).abs()
    assert torch.allclose(rel, torch.full_like(rel, torch.finfo(torch.bfloat16).eps), rtol=1e-3)
    emb = torch.nn.Embedding(5, 4)
    idx = torch.tensor([1, 2])
    with perturb_embeddings(emb, torch.bfloat16, 0) as hooked:
        assert hooked == 1 and not torch.equal(emb(idx), emb.weight[idx])


def test_a_correct_port_passes_at_bf16_with_ratio_one(parity_in_process, tmp_path):
    port = tmp_path / "port"
    shutil.copytree(BLAME, port)
    code, data = parity_json("--root", BLAME, "--candidate-root", port, "--candidate-dtype", "bfloat16", "--layers",
                             out=tmp_path / "r.json")
    assert code == 0 and data["verdict_mode"] == "ratio" and data["verdict"] == "pass"
    assert outputs_by_name(data)["output"]["ratio"] == pytest.approx(1.0, abs=0.05)
    assert data["first_divergence"] is None and all(row["passed"] for row in data["layers"])


def test_the_ratio_verdict_is_the_default_for_a_lower_candidate_precision(parity_in_process, tmp_path):
    code, data = parity_json("--root", BLAME, "--candidate", "model:make_attention_bug", "--candidate-dtype",
                             "bf16", out=tmp_path / "r.json")
    assert code == 1 and data["verdict_mode"] == "ratio" and outputs_by_name(data)["output"]["ratio"] > 2
    code, data = parity_json("--root", BLAME, "--candidate", "model:make_attention_bug", "--candidate-dtype",
                             "bf16", "--verdict", "tolerance", out=tmp_path / "t.json")
    assert code == 1 and data["verdict_mode"] == "tolerance"


def test_marginal_exits_1_unless_allowed(parity_in_process, tmp_path):
    common = ("--root", BLAME, "--candidate", "model:make_attention_bug", "--candidate-dtype", "bf16")
    code, data = parity_json(*common, out=tmp_path / "a.json")
    ratio = outputs_by_name(data)["output"]["ratio"]
    # thresholds placed around the measured ratio make it marginal
    band = ("--max-ratio", f"{ratio / 2}", "--marginal-ratio", f"{ratio * 2}")
    code, data = parity_json(*common, *band, out=tmp_path / "b.json")
    assert code == 1 and data["verdict"] == "marginal"
    code, data = parity_json(*common, *band, "--allow-marginal", out=tmp_path / "c.json")
    assert code == 0 and data["verdict"] == "marginal"


def test_perturbation_baseline_for_token_inputs(parity_in_process, tmp_path):
    port = tmp_path / "port"
    shutil.copytree(BLAME, port)
    code, data = parity_json("--root", BLAME, "--candidate-root", port, "--candidate-dtype", "bf16", "--baseline",
                             "perturb", out=tmp_path / "r.json")
    assert code == 0, data
    assert "perturbed" in data["baseline"] and data["yardstick"] == "reference at bfloat16"
    assert outputs_by_name(data)["output"]["ratio"] == 0.0  # same code at bf16: exactly the yardstick
    code, data = parity_json("--root", BLAME, "--candidate", "model:make_attention_bug", "--candidate-dtype", "bf16",
                             "--baseline", "perturb", "--layers", out=tmp_path / "b.json")
    assert code == 1 and data["first_divergence"] == "blocks.1.attn"


def test_rotary_vit_three_way_runs_with_autocast_when_a_cast_cannot(parity_in_process, vit_port, tmp_path):
    """Regression: --three-way crashed on a ViT with rotary embeddings (torch.polar has no bfloat16
    kernel) and called it an error in user code. Porter now makes its bf16 runs with torch.autocast
    when the cast fails, and says so."""
    code, data = parity_json("--root", VIT, "--candidate-root", vit_port, "--name", "vit", "--three-way", "--layers",
                             out=tmp_path / "r.json")
    assert code == 0, data
    assert data["precision_mode"] == "autocast"
    assert any("torch.polar" in note for note in data["notes"])
    assert outputs_by_name(data)["output"]["ratio"] == pytest.approx(1.0, abs=0.05)


def test_porters_own_failing_run_is_named_with_stage_and_op(parity_in_process, vit_port, tmp_path):
    out = tmp_path / "r.json"
    result = run_cli("parity", "--root", VIT, "--candidate-root", vit_port, "--name", "vit", "--three-way",
                     "--precision", "cast", "--output-format", "json", "-o", out)
    assert result.exit_code == 2
    assert "porter's own run failed in stage 'reference at bfloat16 (cast)' in op torch.polar" in result.stderr
    assert "model.py:" in result.stderr and "user code" not in result.stderr
    import json

    data = json.loads(out.read_text())
    assert data["kind"] == "porter" and data["op"] == "torch.polar"


def test_a_complex_rotary_table_survives_the_cast(parity_in_process, vit_port, tmp_path):
    code, data = parity_json("--root", VIT, "--candidate-root", vit_port, "--name", "vit_table", "--three-way",
                             "--precision", "cast", out=tmp_path / "r.json")
    assert code == 0 and data["precision_mode"] == "cast"


def test_ratio_needs_a_lower_precision(parity_in_process, tmp_path):
    code, data = parity_json("--root", OUTPUTS, "--name", "nested", "--candidate", "model:make_nested_broken",
                             "--verdict", "ratio", out=tmp_path / "r.json")
    assert code == 2 and "--candidate-dtype" in data["error"]


def test_no_fp32_run_falls_back_to_the_perturbation_baseline(parity_in_process, tmp_path):
    port = tmp_path / "port"
    shutil.copytree(BLAME, port)
    code, data = parity_json("--root", BLAME, "--candidate-root", port, "--model", "model:make_bf16_only", "--inputs",
                             "model:example_inputs", "--candidate-dtype", "bf16", out=tmp_path / "r.json")
    assert code == 0, data
    assert "perturbed" in data["baseline"] and "runs in bfloat16 only" in data["notes"][0]
    code, data = parity_json("--root", BLAME, "--candidate-root", port, "--model", "model:make_bf16_only", "--inputs",
                             "model:example_inputs", "--candidate-dtype", "bf16", "--baseline", "fp32",
                             out=tmp_path / "f.json")
    assert code == 2 and data["kind"] == "user code" and "runs in bfloat16 only" in data["error"]
