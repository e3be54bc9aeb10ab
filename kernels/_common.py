"""Small torch-side helpers shared by the kernel modules."""

from __future__ import annotations

import torch


def randn(shape, dtype: torch.dtype, generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, generator=generator) * scale).to(dtype)


def rows_2d(x: torch.Tensor) -> torch.Tensor:
    """(..., D) -> contiguous (N, D)."""
    return x.reshape(-1, x.shape[-1]).contiguous()


def as_row(vec: torch.Tensor | None, width: int, like: torch.Tensor, fill: float) -> torch.Tensor:
    """A (1, width) contiguous row: ``vec`` reshaped, or ``fill`` in ``like``'s dtype when ``vec`` is None."""
    if vec is None:
        return torch.full((1, width), fill, dtype=like.dtype, device=like.device)
    if vec.numel() != width:
        raise ValueError(f"expected {width} elements, got shape {tuple(vec.shape)}")
    return vec.reshape(1, width).contiguous()
