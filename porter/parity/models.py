"""Building the two models of a parity check from one seeded state_dict.

The reference factory runs under a fixed seed; its state_dict is the one set of weights both
models load. Any non-finite value in it (a parameter left as `torch.empty`) is replaced by seeded
random numbers first, so uninitialised memory never makes a comparison meaningless.
"""

from __future__ import annotations

from pathlib import Path

import torch

from porter.graph.entrypoints import EntrypointError


def seeded_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in model.state_dict().items():
        value = value.detach().clone()
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            value = torch.randn(value.shape, generator=generator, dtype=torch.float32).mul_(0.02).to(value.dtype)
        state[name] = value
    return state


def parse_dtype(name: str | None) -> torch.dtype | None:
    """`bfloat16`, `torch.float16`, `bf16`, ... as a floating torch.dtype; None stays None."""
    if name is None:
        return None
    aliases = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32",
               "fp64": "float64", "double": "float64"}
    key = str(name).removeprefix("torch.")
    dtype = getattr(torch, aliases.get(key, key), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise EntrypointError(f"dtype {name!r} is not a floating torch dtype (e.g. float32, bfloat16, float16)")
    return dtype


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from a .safetensors file, or a torch.save'd one (loaded with weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise EntrypointError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from porter.parity.golden import read_safetensors

        return read_safetensors(path)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EntrypointError(f"weights file {path}: not a .safetensors file nor a torch.save'd state_dict "
                              f"({reason})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EntrypointError(f"weights file {path}: expected a state_dict, found {type(state).__name__}")
    return state
