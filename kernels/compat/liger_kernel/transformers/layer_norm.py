"""Shim for ``liger_kernel.transformers.layer_norm.LigerLayerNorm`` on ``porter.kernels.layer_norm``.

``LigerLayerNorm(hidden_size, eps=1e-6, bias=False, init_fn="ones")``: LayerNorm over the last axis (biased
variance, eps inside the square root), fp32 statistics, output in x's dtype. Parameters as Liger: ``weight``
(ones, or zeros with ``init_fn="zeros"``) and ``bias``, which always exists: zeros, or ``torch.randn`` when
``bias=True`` (Liger's initialisation). ``impl`` / ``mode`` / ``backend`` select a Liger implementation and are
accepted and ignored.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..._util import norm

__all__ = ["LigerLayerNorm"]


class LigerLayerNorm(nn.Module):
    """``liger_kernel.transformers.LigerLayerNorm`` (see the module docstring)."""

    def __init__(self, hidden_size, eps=1e-6, bias=False, init_fn="ones", impl=None, mode=None, backend=None):
        super().__init__()
        if init_fn not in ("ones", "zeros"):
            raise ValueError(f"init_fn must be either 'ones' or 'zeros', got {init_fn}")
        self.hidden_size = hidden_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size) if init_fn == "ones" else torch.zeros(hidden_size))
        self.bias = nn.Parameter(torch.randn(hidden_size) if bias else torch.zeros(hidden_size))
        self.variance_epsilon = eps
        self.impl = impl if impl is not None else backend
        self.mode = mode

    def forward(self, hidden_states):
        return norm("layer", hidden_states, self.weight, self.bias, float(self.variance_epsilon),
                    out_dtype=hidden_states.dtype, api="LigerLayerNorm")

    def extra_repr(self):
        return f"{self.hidden_size}, eps={self.eps}"
