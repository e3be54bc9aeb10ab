"""Helpers are defined before the first statement that uses them, and work however late torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from porter.config import Overrides
from porter.rewrite.tree_port import PortOptions, port_tree

LATE_TORCH = 'import os\nDEVICE = "cuda"\nimport torch\nx = torch.zeros(1).to(DEVICE)\nprint(x.device.type)\n'
ALIASED = ('"""Doc."""\nimport os\nos.environ["X"] = "1"\nimport torch as T\nm = T.nn.Linear(2, 2).cuda()\n'
           'print(next(m.parameters()).device.type)\n')
NO_IMPORT_FIRST = 'x = 1\nimport torch\nprint(torch.zeros(1).cuda().device.type)\n'
EARLY_TORCH = 'import torch\nimport os\nDEVICE = "cuda"\nprint(torch.zeros(1).to(DEVICE).device.type)\n'


def _port(tmp_path, source: str, target: str) -> str:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "m.py").write_text(source)
    out = tmp_path / f"out-{target}"
    result = port_tree(root, PortOptions(target=target, out=out), Overrides())
    assert not result.problems and len(result.changed) == 1
    return (out / "m.py").read_text()


@pytest.mark.parametrize("target", ["neuron", "portable", "xla"])
@pytest.mark.parametrize("source", [LATE_TORCH, ALIASED, NO_IMPORT_FIRST, EARLY_TORCH])
def test_ported_file_runs_however_late_torch_is_imported(tmp_path, source, target):
    pytest.importorskip("torch")
    ported = _port(tmp_path, source, target)
    assert ported.index("def _porter_device") < ported.index("_porter_device()")
    run = subprocess.run([sys.executable, "-c", ported], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "cpu"


def test_helper_goes_after_the_opening_imports_and_imports_torch_itself_only_when_needed(tmp_path):
    late = _port(tmp_path, LATE_TORCH, "neuron")
    assert late.startswith("import os\n\n\ndef _porter_device(index=None):\n")
    assert "    import torch  # not imported at the top of this file\n" in late
    aliased = _port(tmp_path, ALIASED, "neuron")
    assert aliased.startswith('"""Doc."""\nimport os\n\n\ndef _porter_device(')
    assert "    import torch as T  # not imported at the top of this file\n" in aliased
    early = _port(tmp_path, EARLY_TORCH, "neuron")
    assert early.startswith("import torch\nimport os\n\n\ndef _porter_device(") and "imported later" not in early


def test_second_port_adds_nothing(tmp_path):
    ported = _port(tmp_path, LATE_TORCH, "neuron")
    again = tmp_path / "again"
    again.mkdir()
    (again / "m.py").write_text(ported)
    result = port_tree(again, PortOptions(in_place=True), Overrides())
    assert result.changed == [] and (again / "m.py").read_text() == ported
