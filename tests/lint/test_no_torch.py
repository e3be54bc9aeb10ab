"""`porter lint` is light enough for a pre-commit hook: it never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.lint.helpers import CUDA_CODE, write

PROBE = textwrap.dedent(
    """
    import json, sys
    import porter, porter.cli
    from porter.cli import app
    from typer.testing import CliRunner

    after_import = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    runner = CliRunner()
    help_ = runner.invoke(app, ["lint", "--help"])
    lint = runner.invoke(app, ["lint", "--no-cache", "a.py"])
    rules = runner.invoke(app, ["rule", "NRN101"])
    # the text lint of a pre-commit hook: not even libcst
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "onnx", "onnxruntime", "libcst"))
    # SARIF and JSON carry fix edits, computed by the port (libcst), never torch
    lint_json = runner.invoke(app, ["lint", "--no-cache", "--output-format", "sarif", "a.py"])
    heavy += sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "onnx", "onnxruntime"))
    print(json.dumps({
        "after_import": after_import,
        "codes": [help_.exit_code, lint.exit_code, lint_json.exit_code, rules.exit_code],
        "lint": lint.stdout,
        "heavy": heavy,
    }))
    """
)


def test_cli_in_process_never_imports_torch(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["after_import"] == []
    assert data["codes"] == [0, 1, 1, 0]
    assert "NRN101" in data["lint"]  # the lint really ran
    assert data["heavy"] == []


def test_process_importtime_has_no_torch(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    for args in (["lint", "--help"], ["lint", "--no-cache", "a.py"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "porter", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "porter.cli" in imported  # the probe sees porter's own imports
        assert not {m for m in imported if m == "torch" or m.startswith("torch.")}, args
    assert "NRN101" in proc.stdout


def test_lint_works_when_torch_cannot_be_imported(tmp_path):
    """A core install has no torch: block the import and lint anyway."""
    write(tmp_path / "a.py", CUDA_CODE)
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # `import torch` now raises ImportError
        from porter.cli import main
        sys.argv = ["porter", "lint", "--no-cache", "a.py"]
        main()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "a.py:2:20: NRN101" in proc.stdout
