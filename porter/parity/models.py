"""Building the two models of a parity check from one seeded state_dict.

The reference factory runs under a fixed seed; its state_dict is the one set of weights both
models load. Any non-finite value in it (a parameter left as `torch.empty`) is replaced by seeded
random numbers first, so uninitialised memory never makes a comparison meaningless.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from porter.graph.entrypoints import EntrypointError, normalise_inputs


def seeded_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in model.state_dict().items():
        value = value.detach().clone()
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            value = torch.randn(value.shape, generator=generator, dtype=torch.float32).mul_(0.02).to(value.dtype)
        state[name] = value
    return state


class ProjectLoader:
    """Imports entrypoints from one project root, isolated from another root's same-named modules."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def __enter__(self) -> ProjectLoader:
        self._saved_path = list(sys.path)
        self._saved_modules = dict(sys.modules)
        sys.path.insert(0, str(self.root))
        return self

    def __exit__(self, *exc) -> None:
        sys.path[:] = self._saved_path
        root = str(self.root)
        for name, module in list(sys.modules.items()):
            if name not in self._saved_modules and (getattr(module, "__file__", None) or "").startswith(root):
                del sys.modules[name]

    def resolve(self, reference: str) -> Callable[..., Any]:
        module_name, _, attr = reference.partition(":")
        if not module_name or not attr:
            raise EntrypointError(f"{reference!r}: expected pkg.module:function")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise EntrypointError(f"{reference}: cannot import {module_name} from {self.root}: {exc}") from exc
        for part in attr.split("."):
            if not hasattr(target, part):
                raise EntrypointError(f"{reference}: {module_name} has no attribute {attr}")
            target = getattr(target, part)
        if not callable(target):
            raise EntrypointError(f"{reference}: not callable")
        return target


def build(root: Path, factory: str, seed: int) -> torch.nn.Module:
    with ProjectLoader(root) as loader:
        torch.manual_seed(seed)
        model = loader.resolve(factory)()
    if not isinstance(model, torch.nn.Module):
        raise EntrypointError(f"{factory}: returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def example_inputs(root: Path, inputs: str, seed: int) -> tuple[tuple, dict]:
    with ProjectLoader(root) as loader:
        torch.manual_seed(seed)
        return normalise_inputs(loader.resolve(inputs)())
