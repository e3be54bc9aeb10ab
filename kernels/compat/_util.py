"""Helpers shared by the compat shims: argument rejection, dtype handling for the norm kernels, device checks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .. import _runtime
from ..layernorm import layer_norm
from ..rmsnorm import rms_norm


class UnsupportedArgumentError(ValueError):
    """An argument of the original API that porter's kernels cannot honour exactly.

    Raised at call time (never at import), always naming the API and the argument. It is a ``ValueError``.
    """


def unsupported(api: str, argument: str, value, why: str = "") -> UnsupportedArgumentError:
    """The error to raise for ``api`` called with ``argument=value``."""
    text = f"{api}: argument `{argument}`={value!r} is not supported by porter's kernel swap"
    if why:
        text += f" ({why})"
    return UnsupportedArgumentError(text)


def on_neuron(*tensors) -> bool:
    return any(_runtime.is_neuron_tensor(t) for t in tensors if t is not None)


def as_int(value, name: str) -> int:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be an int, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------------------- norms

def _compute_dtype(*tensors) -> torch.dtype:
    """The floating dtype every operand can be cast to without loss (the promotion of the given tensors)."""
    dtype = None
    for t in tensors:
        if t is None:
            continue
        dtype = t.dtype if dtype is None else torch.promote_types(dtype, t.dtype)
    return dtype


def normalized_size(normalized_shape) -> tuple[tuple[int, ...], int]:
    if isinstance(normalized_shape, int):
        shape = (int(normalized_shape),)
    else:
        shape = tuple(int(n) for n in normalized_shape)
    return shape, math.prod(shape)


def _flatten_trailing(x: torch.Tensor, shape: tuple[int, ...], size: int, api: str) -> torch.Tensor:
    if tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(f"{api}: input shape {tuple(x.shape)} does not end with normalized_shape {shape}")
    return x.reshape(*x.shape[: x.dim() - len(shape)], size)


def norm(kind: str, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float,
         out_dtype: torch.dtype | None = None, normalized_shape: Sequence[int] | int | None = None,
         api: str = "norm") -> torch.Tensor:
    """RMSNorm (``kind="rms"``) or LayerNorm (``kind="layer"``) through porter's kernels.

    Statistics and the affine transform are computed in fp32 (the kernels' contract) from the operands cast to
    their common dtype (casting up is exact, so mixed input/parameter dtypes lose nothing); the result is rounded
    once to ``out_dtype`` (default: x's dtype). ``normalized_shape`` spanning several trailing axes is handled by
    flattening them into one (exact: the statistics run over all of them). RMSNorm has no bias in porter's
    kernel; a bias is added after the kernel, in fp32.
    """
    out_dtype = x.dtype if out_dtype is None else out_dtype
    shape = None
    x_in = x
    if normalized_shape is not None:
        shape, size = normalized_size(normalized_shape)
        x_in = _flatten_trailing(x, shape, size, api)
        weight = None if weight is None else weight.reshape(size)
        bias = None if bias is None else bias.reshape(size)
    dtype = _compute_dtype(x_in, weight, bias)
    xc = x_in.to(dtype)
    wc = None if weight is None else weight.to(dtype)
    bc = None if bias is None else bias.to(dtype)
    if kind == "layer":
        y = layer_norm(xc, wc, bc, eps)
    elif kind == "rms":
        y = rms_norm(xc, wc, eps)
        if bc is not None:
            y = (y.float() + bc.float()).to(dtype)
    else:
        raise ValueError(f"unknown norm kind {kind!r}")
    y = y.to(out_dtype)
    return y if shape is None else y.reshape(x.shape)


def check_duplicated_halves(table: torch.Tensor, interleaved: bool, api: str) -> None:
    """Full-width RoPE tables (Hugging Face ``cat((freqs, freqs))``) hold every angle twice; porter's rotary kernel
    reads one copy. Verify the copies agree (skipped on Neuron devices, where it would force a host sync)."""
    if on_neuron(table):
        return
    d = table.shape[-1]
    if d % 2:
        raise ValueError(f"{api}: rotary tables need an even last axis, got {tuple(table.shape)}")
    if interleaved:
        a, b = table[..., 0::2], table[..., 1::2]
    else:
        a, b = table[..., : d // 2], table[..., d // 2:]
    if not torch.equal(a, b):
        raise ValueError(f"{api}: full-width cos/sin tables must repeat each angle "
                         f"({'interleaved' if interleaved else 'cat((freqs, freqs))'} layout); got tables whose "
                         "halves differ, which porter's rotary kernel cannot represent")
