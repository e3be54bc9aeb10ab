"""Emulation refuses where it would mislead: a real Neuron stack present (unless forced), a torch too old."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import porter.emulate as pe  # noqa: E402
import porter.emulate.neuron_device as nd  # noqa: E402
from porter.emulate import run as runner  # noqa: E402


def test_real_neuron_stack_refuses_unless_forced(monkeypatch):
    monkeypatch.setattr(nd, "real_neuron_present", lambda: "Neuron device /dev/neuron0")
    with pytest.raises(nd.EmulationError, match="/dev/neuron0.*--force"):
        with pe.neuron():
            pass
    with pe.neuron(force=True):
        assert torch.neuron.is_available()
    with pytest.raises(runner.RunError, match="real Neuron stack"):
        runner.check_device(runner.RunOptions(command=["python", "x.py"]))
    runner.check_device(runner.RunOptions(command=["python", "x.py"], force=True))


def test_torch_too_old_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.3.1")
    with pytest.raises(nd.EmulationError, match=r"torch >= 2\.13.*2\.3\.1"):
        nd.check_torch()
    with pytest.raises(runner.RunError, match=r"torch >= 2\.13"):
        runner.check_device(runner.RunOptions(command=["python", "x.py"]))
