"""porter.kernels on the emulated device: neuron tensors run the NKI kernel in porter's simulator."""

from __future__ import annotations


def install(state) -> None:
    pass


def uninstall() -> None:
    pass
