"""Shim for ``xformers.ops``: ``memory_efficient_attention`` (porter's attention kernel), the attention-bias
classes of ``xformers.ops.fmha.attn_bias``, and ``SwiGLU`` / ``swiglu`` (porter's swiglu kernel).

Layout note: xformers tensors are (B, M, H, K) ((B, M, K) and (B, M, G, H, K) too); porter's attention kernel
takes (B, H, M, K): the shim transposes in and out and returns a contiguous (B, M, H, K) result.
"""

from __future__ import annotations

import torch

from . import fmha
from .fmha import AttentionBias, LowerTriangularMask, LowerTriangularMaskWithTensorBias, memory_efficient_attention
from .swiglu_op import SwiGLU, swiglu


def unbind(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, ...]:
    """``xformers.ops.unbind``: ``torch.unbind`` (xformers' version only adds a fused backward)."""
    return torch.unbind(x, dim)


__all__ = [
    "AttentionBias",
    "LowerTriangularMask",
    "LowerTriangularMaskWithTensorBias",
    "SwiGLU",
    "fmha",
    "memory_efficient_attention",
    "swiglu",
    "unbind",
]
