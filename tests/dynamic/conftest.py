"""Shared helpers for the dynamic half's tests (trace, compile, parity): fixture projects, the CLI
runner, and an in-process stand-in for the parity worker so most parity tests skip a torch import."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

from porter.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "dynamic"
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def candidate_on_cpu(monkeypatch):
    """Most parity tests are about verdicts, not devices: their candidates run on the CPU (quick).
    Tests of the emulated devices pass --candidate-device neuron / --reference-device cuda."""
    monkeypatch.setenv("PORTER_CANDIDATE_DEVICE", "cpu")


def marker_line(path: Path, marker: str) -> int:
    """The 1-based line of `# LINE: marker` in a fixture file."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.search(rf"# LINE: {re.escape(marker)}\b", line):
            return number
    raise AssertionError(f"no '# LINE: {marker}' in {path}")


def run_cli(*args: str | Path):
    """`porter ARGS` in this process; returns the click Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def in_process_worker(request: dict, timeout: float) -> dict:
    """What `porter.parity.worker` does, minus the subprocess: same request, same JSON round trip."""
    from porter.parity.worker import run_request

    return json.loads(json.dumps(run_request(json.loads(json.dumps(request))), default=str))


@pytest.fixture
def parity_in_process(monkeypatch):
    """Route `porter parity` to the in-process worker; the subprocess path has its own tests."""
    import porter.commands.parity as parity_command

    monkeypatch.setattr(parity_command, "run_in_subprocess", in_process_worker)
    return run_cli


@pytest.fixture
def outputs_port(tmp_path):
    """A copy of the outputs fixture project: a port that changed nothing, the candidate root of
    the tests that expect a pass (the original compared with itself is refused)."""
    port = tmp_path / "outputs_port"
    shutil.copytree(FIXTURES / "outputs", port)
    return port


def parity_json(*args: str | Path, out: Path) -> tuple[int, dict]:
    """Run `porter parity ... --output-format json -o out` (in process) and read the result."""
    result = run_cli("parity", *args, "--output-format", "json", "--output-file", out)
    data = json.loads(out.read_text()) if out.exists() else {}
    return result.exit_code, data


def outputs_by_name(data: dict) -> dict[str, dict]:
    return {o["name"]: o for o in data["outputs"]}
