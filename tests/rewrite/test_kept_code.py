"""The ported tree is code a team keeps: no import the port left unused (ruff F401)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.rewrite.imports import unused_after_port
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

CATALOGUE = load_catalogue()


def port(code: str, target: str = "neuron", path: str = "snippet.py") -> str:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    result = port_source(code, path, RuleIndex.build(rules), CATALOGUE, target)
    assert result.error is None, result.error
    again = port_source(result.ported, path, RuleIndex.build(rules), CATALOGUE, target)
    assert again.ported == result.ported, "a second port must change nothing"
    return result.ported


def ruff_unused(code: str, tmp_path: Path) -> list[str]:
    """ruff's own F401 verdict on the code (the tool users run on the ported tree)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed here")
    path = tmp_path / "ported.py"
    path.write_text(code)
    out = subprocess.run([ruff, "check", "--isolated", "--select", "F401", "--output-format", "concise", str(path)],
                         capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "F401" in line]


def test_a_submodule_import_whose_uses_were_removed_goes(tmp_path):
    source = "import torch\nimport torch.backends\n\ntorch.backends.cudnn.benchmark = True\nx = torch.ones(2)\n"
    ported = port(source)
    assert "import torch.backends" not in ported and "import torch\n" in ported
    assert ruff_unused(ported, tmp_path) == []


def test_a_from_import_left_unused_by_a_rewritten_call_goes(tmp_path):
    source = ("import torch\nfrom torch.cuda.amp import autocast\n\n"
              "def f(x):\n    with autocast():\n        return x * 2\n")
    ported = port(source)
    assert "from torch.cuda.amp import autocast" not in ported
    assert ruff_unused(ported, tmp_path) == []


def test_an_import_still_used_elsewhere_stays(tmp_path):
    source = ("import torch\nfrom torch.cuda.amp import autocast\n\n"
              "with autocast():\n    pass\nprint(autocast)\n")
    ported = port(source)
    assert "from torch.cuda.amp import autocast" in ported


def test_an_import_the_original_already_left_unused_is_not_touched(tmp_path):
    source = "import os\nimport torch\n\ntorch.cuda.synchronize()\n"
    ported = port(source)
    assert "import os" in ported  # the author's own unused import (maybe a side effect): not ours to drop


def test_a_dotted_import_that_binds_the_top_name_stays_while_the_top_name_is_used():
    original = "import torch.backends\n\ntorch.backends.cudnn.benchmark = True\nx = torch.ones(1)\n"
    ported = "import torch.backends\n\nx = torch.ones(1)\n"
    assert unused_after_port(original, ported) == set()  # it is what makes `torch` a name here


def test_an_import_alone_in_a_block_leaves_pass(tmp_path):
    source = ("import torch\nif True:\n    from torch.cuda.amp import autocast\n"
              "with autocast():\n    y = torch.ones(1)\n")
    ported = port(source)
    compile(ported, "ported.py", "exec")
    assert "from torch.cuda.amp import autocast" not in ported


def test_a_name_exported_in_dunder_all_is_a_use():
    original = "from torch.cuda.amp import autocast\n__all__ = ['autocast']\n"
    assert unused_after_port(original, original) == set()
