"""`porter lint` on the example projects: every CUDA construct found, device-agnostic code left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from porter.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()

# The rules gpt_train exercises on purpose (examples/gpt_train/README.md lists the constructs).
# Not NRN406: utils.py imports triton inside its own `try: ... except ImportError:`, which is what
# port would write, so it is not a finding (and it uses no Triton kernel).
GPT_TRAIN_RULES = {
    "NRN101", "NRN102", "NRN103", "NRN104", "NRN105", "NRN106", "NRN107", "NRN108", "NRN111", "NRN112",
    "NRN120", "NRN121", "NRN122", "NRN123", "NRN124", "NRN125", "NRN126", "NRN127", "NRN128", "NRN129",
    "NRN131", "NRN133", "NRN134", "NRN140", "NRN150", "NRN151", "NRN201", "NRN202", "NRN203", "NRN206",
    "NRN301", "NRN303", "NRN409", "NRN411", "NRN412", "NRN413", "NRN501", "NRN502",
    "NRN601", "NRN602", "NRN603",
}


def lint_json(path: Path, *extra: str) -> list[dict]:
    result = runner.invoke(app, ["lint", str(path), "--no-cache", "--output-format", "json", "--exit-zero", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_gpt_train_reports_every_construct():
    findings = lint_json(EXAMPLES / "gpt_train")
    assert {f["code"] for f in findings} >= GPT_TRAIN_RULES
    assert not [f for f in findings if f["code"].startswith("NRN0")]


def test_gpt_train_device_agnostic_lines_are_clean():
    findings = lint_json(EXAMPLES / "gpt_train")
    flagged = {(Path(f["filename"]).name, f["location"]["row"]) for f in findings}
    checked = 0
    for name in ("train.py", "utils.py", "model.py"):
        for number, line in enumerate((EXAMPLES / "gpt_train" / name).read_text().splitlines(), 1):
            if "other.device" in line or "torch.accelerator.is_available()" in line or "on cuda devices" in line:
                checked += 1
                assert (name, number) not in flagged, f"{name}:{number} flagged: {line.strip()}"
    assert checked >= 3


def test_gpt_train_model_module_is_clean():
    assert lint_json(EXAMPLES / "gpt_train" / "model.py") == []


@pytest.mark.parametrize("target", ["neuron", "portable"])
def test_portable_mlp_is_clean(target):
    assert lint_json(EXAMPLES / "portable_mlp", "--target", target) == []


def test_portable_mlp_on_xla_gets_only_the_xla_idioms():
    # Device-agnostic code is not CUDA code, but torch-xla wants its own loader and save.
    codes = {f["code"] for f in lint_json(EXAMPLES / "portable_mlp", "--target", "xla")}
    assert codes and codes <= {"NRN109", "NRN505", "NRN604"}


def test_gpt_train_exits_1_with_findings():
    result = runner.invoke(app, ["lint", str(EXAMPLES / "gpt_train"), "--no-cache"])
    assert result.exit_code == 1
    assert "train.py:" in result.output
