"""Shim for ``xformers.ops.swiglu_op``: ``swiglu`` and the ``SwiGLU`` module, gating on ``porter.kernels.swiglu``.

``swiglu(x, w1, b1, w2, b2, w3, b3, *, op=None)`` computes, as documented by xformers::

    x1 = F.linear(x, w1, b1); x2 = F.linear(x, w2, b2)
    hidden = F.silu(x1) * x2            # porter.kernels.swiglu(x1, x2)
    return F.linear(hidden, w3, b3)

``SwiGLU(in_features, hidden_features, out_features=None, bias=True, *, _pack_weights=True)`` holds the weights
under xformers' names: ``w12`` (Linear in -> 2 * hidden, w1 stacked over w2) and ``w3`` (Linear hidden -> out), or
``w1`` / ``w2`` / ``w3`` with ``_pack_weights=False`` (``w12`` is then None), so xformers state_dicts load.
``op`` picks an xformers implementation and is ignored. The projections are ordinary ``F.linear`` (the Neuron
compiler maps them to the Tensor Engine); the gate runs on porter's kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....swiglu import swiglu as _porter_swiglu

__all__ = ["SwiGLU", "swiglu"]


def swiglu(x, w1, b1, w2, b2, w3, b3, *, op=None, requires_grad=True):
    """``xformers.ops.swiglu`` (see the module docstring). x (..., in) -> (..., out)."""
    if w1.dim() != 2 or w1.shape != w2.shape:
        raise ValueError(f"Invalid shapes for w1: {tuple(w1.shape)} / w2: {tuple(w2.shape)}")
    if w3.dim() != 2 or w3.shape[1] != w2.shape[0]:
        raise ValueError(f"Invalid shape for w3: {tuple(w3.shape)}")
    x1 = F.linear(x, w1, b1)
    x2 = F.linear(x, w2, b2)
    return F.linear(_porter_swiglu(x1, x2), w3, b3)


class SwiGLU(nn.Module):
    """``xformers.ops.SwiGLU``: parameters ``w12`` + ``w3`` (packed, default) or ``w1`` + ``w2`` + ``w3``."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None, bias: bool = True,
                 *, _pack_weights: bool = True) -> None:
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.w12: nn.Linear | None
        if _pack_weights:
            self.w12 = nn.Linear(in_features, 2 * hidden_features, bias=bias)
        else:
            self.w12 = None
            self.w1 = nn.Linear(in_features, hidden_features, bias=bias)
            self.w2 = nn.Linear(in_features, hidden_features, bias=bias)
        self.w3 = nn.Linear(hidden_features, out_features, bias=bias)
        self.hidden_features = hidden_features
        self.out_features = out_features
        self.in_features = in_features
        self.op = None

    def _ordered_params(self):
        """[w1, b1, w2, b2, w3, b3], splitting the packed ``w12`` (first half w1, second half w2)."""
        if self.w12 is not None:
            w1, w2 = self.w12.weight.view(2, -1, self.w12.weight.shape[1]).unbind(0)
            b1, b2 = (None, None) if self.w12.bias is None else self.w12.bias.view(2, -1).unbind(0)
        else:
            w1, w2, b1, b2 = self.w1.weight, self.w2.weight, self.w1.bias, self.w2.bias
        return [w1, b1, w2, b2, self.w3.weight, self.w3.bias]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x, *self._ordered_params(), op=self.op)
