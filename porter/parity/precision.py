"""Running a model at a target precision, and the perturbation baseline.

Two ways to run at a lower precision: `cast` (every floating parameter, buffer and input in the
target dtype, like `model.to(torch.bfloat16)`, but complex tensors stay complex: `Module.to` would
silently drop their imaginary part, e.g. a rotary embedding's `torch.polar` table) and `autocast`
(`torch.autocast` on the CPU: matmuls and convolutions in the target dtype, the rest in fp32).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

LOWER_PRECISION_MODES = ("cast", "autocast")


def bits(dtype: torch.dtype) -> int:
    return torch.finfo(dtype).bits if dtype.is_floating_point else 64


def is_lower(candidate: torch.dtype, reference: torch.dtype) -> bool:
    """True when the candidate's dtype holds less precision than the reference's."""
    return torch.finfo(candidate).eps > torch.finfo(reference).eps


def cast_model(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """The model with its floating (not complex) parameters and buffers in `dtype`, in place."""
    return model._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)


def cast_value(value: Any, dtype: torch.dtype) -> Any:
    """Floating tensors (not complex, not integer) in a nested input cast to `dtype`."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return type(value)(cast_value(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: cast_value(v, dtype) for k, v in value.items()}
    return value


def cast_inputs(args: tuple, kwargs: dict, dtype: torch.dtype) -> tuple[tuple, dict]:
    return tuple(cast_value(a, dtype) for a in args), {k: cast_value(v, dtype) for k, v in kwargs.items()}


def to_float32(value: Any) -> Any:
    return cast_value(value, torch.float32) if value is not None else None


@contextlib.contextmanager
def precision_context(mode: str, dtype: torch.dtype | None, device: str = "cpu") -> Iterator[None]:
    """Around a forward: torch.autocast (for the run's device) for `autocast`, nothing for `cast`
    (the model and inputs were cast beforehand) or when no lower precision is asked for."""
    if mode == "autocast" and dtype is not None:
        with torch.autocast(device_type=device, dtype=dtype):
            yield
    else:
        yield


def perturbed(value: Any, dtype: torch.dtype, generator: torch.Generator) -> Any:
    """Each floating element x becomes x * (1 + eps * s), s = ±1 at random: a change of one unit in
    the last place of the target dtype, the smallest input change the target can tell apart."""
    eps = torch.finfo(dtype).eps
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        signs = torch.randint(0, 2, value.shape, generator=generator).to(torch.float32).mul_(2).sub_(1)
        return (value.float() * (1 + eps * signs)).to(value.dtype)
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return type(value)(perturbed(v, dtype, generator) for v in value)
    if isinstance(value, dict):
        return {k: perturbed(v, dtype, generator) for k, v in value.items()}
    return value


def has_floating(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_floating_point()
    if isinstance(value, (tuple, list)):
        return any(has_floating(v) for v in value)
    if isinstance(value, dict):
        return any(has_floating(v) for v in value.values())
    return False


@contextlib.contextmanager
def perturb_embeddings(model: torch.nn.Module, dtype: torch.dtype, seed: int) -> Iterator[int]:
    """Token inputs cannot be nudged by an epsilon: perturb what every nn.Embedding returns instead.
    Yields how many embeddings were hooked."""
    generator = torch.Generator().manual_seed(seed)
    handles = [m.register_forward_hook(lambda _m, _i, out: perturbed(out, dtype, generator))
               for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
