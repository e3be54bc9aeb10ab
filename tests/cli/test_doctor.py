"""`porter doctor`: what porter finds in this environment, each line true to the machine."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys

from typer.testing import CliRunner

from porter.cli import app


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_doctor_json_matches_the_environment():
    result = CliRunner().invoke(app, ["doctor", "--output-format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert set(checks) == {"torch", "neuron-sdk", "nki", "triton", "onnxruntime"}
    torch_version = _installed("torch")
    assert checks["torch"]["found"] is (torch_version is not None)
    if torch_version:
        assert checks["torch"]["detail"].startswith(torch_version)
        assert "build" in checks["torch"]["detail"]
    assert checks["triton"]["found"] is (importlib.util.find_spec("triton") is not None)
    assert checks["onnxruntime"]["found"] is (_installed("onnxruntime") is not None)
    assert checks["neuron-sdk"]["found"] is bool(_installed("torch-neuronx") or _installed("neuronx-cc"))
    from porter.nki.install import real_nki_available

    nki = checks["nki"]["detail"]
    assert nki.startswith("real nki") is real_nki_available()
    for check in checks.values():
        assert check["enables"]


def test_doctor_text_names_every_check():
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for name in ("torch", "neuron-sdk", "nki", "triton", "onnxruntime", "→"):
        assert name in result.stdout


def test_cli_startup_does_not_import_torch_for_doctor():
    probe = "import sys, porter.cli; print(any(m == 'torch' or m.startswith('torch.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_doctor_names_the_simulated_nki_version(monkeypatch):
    from porter.nki.install import real_nki_available

    if real_nki_available():
        import pytest

        pytest.skip("a real nki is installed: doctor reports it, not the simulator")
    monkeypatch.setenv("PORTER_NKI_VERSION", "0.7")
    result = CliRunner().invoke(app, ["doctor", "--output-format", "json"])
    nki = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "nki")
    assert "NKI 0.7 (as in Neuron 2.33; PORTER_NKI_VERSION=0.7)" in nki["detail"]


# A core install (no runtime extra): torch, numpy and ml_dtypes cannot be imported.
_CORE_ONLY = "import sys\nfor m in ('torch', 'numpy', 'ml_dtypes'): sys.modules[m] = None\n"


def _core_only(*argv: str) -> subprocess.CompletedProcess:
    code = _CORE_ONLY + f"sys.argv = ['porter', *{list(argv)!r}]\nfrom porter.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_doctor_on_a_core_install_says_what_is_missing():
    out = _core_only("doctor", "--output-format", "json")
    assert out.returncode == 0, out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["nki"]["found"] is False and "runtime extra" in checks["nki"]["detail"]


def test_torch_commands_on_a_core_install_name_the_runtime_extra(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    return None\n")
    for argv in (["trace", "--root", str(tmp_path), "--model", "m:f", "--inputs", "m:f"],
                 ["compile", "--root", str(tmp_path), "--model", "m:f", "--inputs", "m:f"],
                 ["run", "--", "python", "-c", "pass"]):
        out = _core_only(*argv)
        assert out.returncode == 2, (argv, out.stderr)
        assert "needs the runtime extra" in out.stderr and "Traceback" not in out.stderr, (argv, out.stderr)
