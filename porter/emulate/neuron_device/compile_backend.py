"""torch.compile(backend="neuron") on the emulated device."""

from __future__ import annotations


def register() -> None:
    pass
