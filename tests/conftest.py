"""Suite-wide ordering.

The emulated `neuron` device is PyTorch's PrivateUse1 backend: once a test registers it in this
process it cannot be unregistered, and it stays PyTorch's accelerator for the rest of the process.
The CUDA emulation's backward passes then fail inside the autograd engine (it looks up streams for
the accelerator, not for the emulated cuda device). Tests that run the neuron device in-process
(parity in process, the rewrite tests' emulated checks) come later in the alphabet than
tests/emulate_cuda only by luck, so the CUDA emulation tests are put first explicitly.
"""

from __future__ import annotations

from pathlib import Path

_CUDA_EMULATION = Path(__file__).parent / "emulate_cuda"


def pytest_collection_modifyitems(session, config, items) -> None:
    def runs_cuda_emulation(item) -> bool:
        return _CUDA_EMULATION in Path(str(item.fspath)).parents

    items.sort(key=lambda item: not runs_cuda_emulation(item))  # stable: the order within each group stays
