"""Acceptance test from the issue: a deliberately broken port of a small attention model (one layer
uses 1/d instead of 1/sqrt(d) as its softmax scale) is caught by `porter parity`, and `--layers`
names that layer. Runs the real CLI and the real worker subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.dynamic.conftest import FIXTURES, ROOT, run_cli

REFERENCE = FIXTURES / "attention"
BROKEN = FIXTURES / "attention_broken"


def test_broken_port_is_caught_and_the_layer_named(tmp_path):
    out = tmp_path / "parity.json"
    proc = subprocess.run(
        [sys.executable, "-m", "porter", "parity", "--root", str(REFERENCE), "--candidate-root", str(BROKEN),
         "--layers", "--output-format", "json", "--output-file", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(out.read_text())
    assert result["passed"] is False
    assert result["first_divergence"] == "blocks.1.attn"
    layers = {layer["module"]: layer for layer in result["layers"]}
    # everything before the broken layer agrees ...
    assert all(layers[name]["passed"] for name in layers if name.startswith("blocks.0"))
    assert layers["blocks.1.norm"]["passed"] and layers["blocks.1.attn.qkv"]["passed"]
    # ... the broken layer diverges on agreeing inputs; what follows only inherits the difference
    assert layers["blocks.1.attn"]["inputs_match"] is True and not layers["blocks.1.attn"]["passed"]
    assert layers["blocks.1.attn.proj"]["inputs_match"] is False
    assert not layers["head"]["passed"]


def test_table_output_names_the_layer(parity_in_process):
    result = run_cli("parity", "--root", REFERENCE, "--candidate-root", BROKEN, "--layers")
    assert result.exit_code == 1
    assert "first diverging module: blocks.1.attn\n" in result.stdout
    assert "MISMATCH" in result.stdout


def test_a_faithful_port_passes_layer_by_layer(parity_in_process, tmp_path):
    port = tmp_path / "port"
    shutil.copytree(REFERENCE, port)  # a port that changed nothing
    out = tmp_path / "r.json"
    result = run_cli("parity", "--root", REFERENCE, "--candidate-root", port, "--layers", "--output-format",
                     "json", "-o", out)
    data = json.loads(out.read_text())
    assert result.exit_code == 0 and data["first_divergence"] is None
    assert len(data["layers"]) > 10 and all(layer["passed"] for layer in data["layers"])
