"""Model entrypoints: `pkg.module:function` names resolved against a project root.

`[tool.porter.models.NAME]` gives `factory` (returns the model) and `inputs` (returns the example
inputs: a tensor, a tuple of positional inputs, or a (args, kwargs) pair when `kwargs = true`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class EntrypointError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    factory: str
    inputs: str
    root: Path = Path(".")
    weights: str | None = None
    dtype: str | None = None
    rtol: float | None = None
    atol: float | None = None
    per_output: dict = field(default_factory=dict)

    @classmethod
    def from_table(cls, name: str, table: dict, root: Path, where: str) -> ModelSpec:
        for key in ("factory", "inputs"):
            if not isinstance(table.get(key), str) or ":" not in table[key]:
                raise EntrypointError(f"{where}: [tool.porter.models.{name}] needs {key} = \"pkg.module:function\"")
        allowed = {"factory", "inputs", "weights", "dtype", "rtol", "atol", "tolerances"}
        unknown = set(table) - allowed
        if unknown:
            raise EntrypointError(f"{where}: [tool.porter.models.{name}] unknown keys {sorted(unknown)}")
        return cls(factory=table["factory"], inputs=table["inputs"], root=root, weights=table.get("weights"),
                   dtype=table.get("dtype"), rtol=table.get("rtol"), atol=table.get("atol"),
                   per_output=dict(table.get("tolerances", {})))


@contextmanager
def project_on_path(root: Path):
    """Import the project's modules from `root`, forgetting them afterwards so that a second root
    (the ported tree) imports its own copies of the same module names."""
    root = str(Path(root).resolve())
    before = set(sys.modules)
    sys.path.insert(0, root)
    try:
        yield
    finally:
        sys.path.remove(root)
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None) or ""
            if origin.startswith(root):
                del sys.modules[name]


def resolve(reference: str, root: Path) -> Callable[..., Any]:
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise EntrypointError(f"{reference!r}: expected pkg.module:function")
    with project_on_path(root):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise EntrypointError(f"{reference}: cannot import {module_name} from {root}: {exc}") from exc
        target: Any = module
        for part in attr.split("."):
            try:
                target = getattr(target, part)
            except AttributeError as exc:
                raise EntrypointError(f"{reference}: {module_name} has no {attr}") from exc
    if not callable(target):
        raise EntrypointError(f"{reference}: not callable")
    return target


def normalise_inputs(value: Any) -> tuple[tuple, dict]:
    """Example inputs as (args, kwargs)."""
    if isinstance(value, dict):
        return (), value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict) and isinstance(value[0], tuple):
        return value[0], value[1]
    if isinstance(value, (tuple, list)):
        return tuple(value), {}
    return (value,), {}
