"""Emulated devices: run a program on a CPU as if on a Neuron device (`neuron`) or a CUDA GPU.

`with porter.emulate.neuron_device(): ...` or `porter run -- python script.py`. Imports torch lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["cuda", "neuron"]


def neuron(platform: str = "trn2", cores: int = 1, strict: bool = False, report: Any = None, force: bool = False):
    """Context manager: inside it, `neuron` is a PyTorch device backed by CPU memory (yields the run's record;
    `report` is a path the run report is written to; `force` emulates even where a real Neuron stack is)."""
    from porter.emulate.neuron_device import emulate

    return emulate(platform=platform, cores=cores, strict=strict, report=report, force=force)


def __getattr__(name: str) -> Any:
    if name == "cuda":  # built in porter/emulate/cuda/ (imported only when asked for)
        return importlib.import_module("porter.emulate.cuda")
    raise AttributeError(f"module 'porter.emulate' has no attribute {name!r}")
