"""Goldens: the inputs and the reference's outputs saved to disk, so CI can check a candidate
without a copy of the original code. Tensors go to safetensors; structure and metadata to JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from porter import __version__
from porter.parity.compare import flatten

FORMAT = 1


class GoldenError(ValueError):
    """A golden directory or a weights file that cannot be read as what it claims to be."""


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file; anything else is refused by name. safetensors never
    unpickles (it reads a JSON header and raw buffers), so a hostile file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise GoldenError(f"{path}: no such file")
    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorError, or OSError on a truncated buffer
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GoldenError(f"not a safetensors file: {path} ({reason})") from None


def save_golden(directory: Path, args: tuple, kwargs: dict, outputs: Any, weights: dict[str, torch.Tensor],
                metadata: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    arg_specs = []
    for i, value in enumerate(args):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"golden inputs must be tensors; argument {i} is {type(value).__name__}")
        tensors[f"input/arg{i}"] = value.detach().contiguous().cpu()
        arg_specs.append(f"arg{i}")
    kwarg_specs = []
    for key, value in kwargs.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"golden inputs must be tensors; keyword {key} is {type(value).__name__}")
        tensors[f"input/kw/{key}"] = value.detach().contiguous().cpu()
        kwarg_specs.append(key)
    output_names = []
    scalars = {}
    for name, value in flatten(outputs):
        if isinstance(value, torch.Tensor):
            tensors[f"output/{name}"] = value.detach().contiguous().cpu()
            output_names.append(name)
        else:
            scalars[name] = value
    save_file(tensors, str(directory / "golden.safetensors"))
    # The weights both sides load, so a candidate is checked on exactly the reference's numbers.
    save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(directory / "weights.safetensors"))
    info = {"format": FORMAT, "porter": __version__, "args": arg_specs, "kwargs": kwarg_specs,
            "outputs": output_names, "scalars": scalars, **metadata}
    (directory / "golden.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def load_golden(directory: Path) -> tuple[tuple, dict, dict[str, Any], dict[str, torch.Tensor], dict]:
    """(args, kwargs, output leaves by name, weights, metadata)."""
    info_path = directory / "golden.json"
    if not info_path.is_file():
        raise GoldenError(f"{directory}: no golden.json (save one with --save-golden)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GoldenError(f"{info_path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        found = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise GoldenError(f"{info_path}: golden format {found} is not {FORMAT}")
    tensors = read_safetensors(directory / "golden.safetensors")
    try:
        args = tuple(tensors[f"input/{name}"] for name in info["args"])
        kwargs = {key: tensors[f"input/kw/{key}"] for key in info["kwargs"]}
        outputs: dict[str, Any] = {name: tensors[f"output/{name}"] for name in info["outputs"]}
    except KeyError as exc:
        raise GoldenError(f"{directory / 'golden.safetensors'}: no tensor {exc} that golden.json lists") from None
    outputs.update(info.get("scalars", {}))
    weights = read_safetensors(directory / "weights.safetensors")
    return args, kwargs, outputs, weights, info
