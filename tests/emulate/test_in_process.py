"""The in-process checks of the emulated neuron device, each module in its own Python process.

Registering `neuron` as PyTorch's PrivateUse1 backend cannot be undone in a process, and PyTorch then
treats it as the process's accelerator (for example in the autograd engine's stream handling), which
changes how other tests in the same process behave (the CUDA emulator's among them). So the modules
`inproc_*.py` here run under their own pytest, in a fresh interpreter each.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent
MODULES = sorted(p.name for p in HERE.glob("inproc_*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_module_in_its_own_process(module):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging",
                           "-o", "python_files=inproc_*.py", str(HERE / module)],
                          capture_output=True, text=True, timeout=900, cwd=HERE.parents[1])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
