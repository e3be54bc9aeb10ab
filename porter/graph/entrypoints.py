"""Model entrypoints: `pkg.module:function` names resolved against a project root.

`[tool.porter.models.NAME]` gives `factory` (returns the model) and `inputs` (returns the example
inputs: a tensor, a tuple or list of positional inputs, a dict of keyword inputs, or an
(args_tuple, kwargs_dict) pair), and optionally `weights` (a .safetensors or torch.save'd
state_dict, relative to the project root, that both models of a parity check load), `dtype` (run
both models in it, e.g. "bfloat16"), `candidate_dtype` (the precision the candidate runs at),
`rtol` / `atol`, `tolerances.OUTPUT = [rtol, atol]`, and for training parity `loss` (called as
loss(output, *inputs) -> scalar) and `optimizer` (called with the model, returns its optimizer),
each resolved in the reference's and the candidate's own root.
"""

from __future__ import annotations

import math
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
    candidate_dtype: str | None = None
    loss: str | None = None
    optimizer: str | None = None
    rtol: float | None = None
    atol: float | None = None
    per_output: dict = field(default_factory=dict)

    @classmethod
    def from_table(cls, name: str, table: dict, root: Path, where: str) -> ModelSpec:
        for key in ("factory", "inputs"):
            if not isinstance(table.get(key), str) or ":" not in table[key]:
                raise EntrypointError(f"{where}: [tool.porter.models.{name}] needs {key} = \"pkg.module:function\"")
        allowed = {"factory", "inputs", "weights", "dtype", "candidate_dtype", "loss", "optimizer", "rtol", "atol",
                   "tolerances"}
        unknown = set(table) - allowed
        if unknown:
            raise EntrypointError(f"{where}: [tool.porter.models.{name}] unknown keys {sorted(unknown)}")
        prefix = f"{where}: [tool.porter.models.{name}]"
        for key in ("rtol", "atol"):
            if key in table and (isinstance(table[key], bool) or not isinstance(table[key], (int, float))):
                raise EntrypointError(f"{prefix} {key} must be a number")
            if key in table:
                check_tolerance(table[key], f"{prefix} {key}")
        for key in ("weights", "dtype", "candidate_dtype"):
            if key in table and not isinstance(table[key], str):
                raise EntrypointError(f"{prefix} {key} must be a string")
        for key in ("loss", "optimizer"):
            if key in table and (not isinstance(table[key], str) or ":" not in table[key]):
                raise EntrypointError(f"{prefix} {key} must be \"pkg.module:function\"")
        per_output = {}
        tolerances = table.get("tolerances", {})
        if not isinstance(tolerances, dict):
            raise EntrypointError(f"{prefix} tolerances must be a table of OUTPUT = [rtol, atol]")
        for output, value in tolerances.items():
            per_output[output] = parse_tolerance(value, f"{prefix} tolerances.{output}")
        return cls(factory=table["factory"], inputs=table["inputs"], root=root, weights=table.get("weights"),
                   dtype=table.get("dtype"), candidate_dtype=table.get("candidate_dtype"), loss=table.get("loss"),
                   optimizer=table.get("optimizer"), rtol=table.get("rtol"), atol=table.get("atol"),
                   per_output=per_output)

    def weights_path(self) -> Path | None:
        """The weights file, relative to the project root."""
        if not self.weights:
            return None
        path = Path(self.weights)
        return path if path.is_absolute() else Path(self.root) / path


def parse_tolerance(value: Any, where: str) -> list[float | None]:
    """`[rtol, atol]` or `{rtol = .., atol = ..}` (either key optional) as [rtol, atol]."""
    if isinstance(value, dict):
        unknown = set(value) - {"rtol", "atol"}
        pair = [value.get("rtol"), value.get("atol")]
        if unknown:
            raise EntrypointError(f"{where}: unknown keys {sorted(unknown)} (rtol, atol)")
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = list(value)
    else:
        raise EntrypointError(f"{where}: expected [rtol, atol] or {{rtol = .., atol = ..}}")
    for item in pair:
        if item is not None and (isinstance(item, bool) or not isinstance(item, (int, float))):
            raise EntrypointError(f"{where}: tolerances must be numbers")
        if item is not None:
            check_tolerance(item, where)
    return [None if v is None else float(v) for v in pair]


def check_tolerance(value: float, where: str) -> None:
    """A tolerance is a finite number >= 0 (a negative one fails everything, a NaN or inf passes anything)."""
    if not math.isfinite(value) or value < 0:
        raise EntrypointError(f"{where}: a tolerance must be a finite number >= 0, not {value!r}")


def normalise_inputs(value: Any) -> tuple[tuple, dict]:
    """Example inputs as (args, kwargs)."""
    if isinstance(value, dict):
        return (), value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict) and isinstance(value[0], tuple):
        return value[0], value[1]
    if isinstance(value, (tuple, list)):
        return tuple(value), {}
    return (value,), {}
