"""Shim for ``liger_kernel.transformers.rms_norm.LigerRMSNorm`` on ``porter.kernels.rms_norm``.

``LigerRMSNorm(hidden_size, eps=1e-6, offset=0.0, casting_mode="llama", init_fn="ones", in_place=True,
row_mode=None, elementwise_affine=True)``: ``y = x * rsqrt(mean(x**2, -1) + eps) * (offset + weight)``, output
in x's dtype. Parameter ``weight`` (ones, or zeros with ``init_fn="zeros"``; None without
``elementwise_affine``); attribute ``variance_epsilon``.

Casting modes, as Liger documents them:

* ``"llama"``: statistics in fp32, ``x * rstd`` rounded to x's dtype, then multiplied by ``offset + weight``
  (Hugging Face Llama); for fp32 inputs this is the fused kernel call;
* ``"gemma"``: everything in fp32, one rounding at the end;
* ``"none"``: Liger computes in x's dtype; porter's kernel computes in fp32 and rounds once, so low-precision
  inputs may differ from Liger in the last bit (fp32 inputs are identical).

``in_place`` and ``row_mode`` only tune Liger's backward kernel and have no effect here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..._util import norm

__all__ = ["LigerRMSNorm"]

_MODES = ("llama", "gemma", "none")


class LigerRMSNorm(nn.Module):
    """``liger_kernel.transformers.LigerRMSNorm`` (see the module docstring)."""

    def __init__(self, hidden_size, eps=1e-6, offset=0.0, casting_mode="llama", init_fn="ones", in_place=True,
                 row_mode=None, elementwise_affine=True):
        super().__init__()
        if init_fn not in ("ones", "zeros"):
            raise ValueError(f"init_fn must be either 'ones' or 'zeros', got {init_fn}")
        if casting_mode not in _MODES:
            raise ValueError(f"casting_mode must be one of {_MODES}, got {casting_mode!r}")
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = nn.Parameter(torch.ones(hidden_size) if init_fn == "ones" else torch.zeros(hidden_size))
        else:
            self.register_parameter("weight", None)
        self.variance_epsilon, self.offset, self.casting_mode, self.in_place, self.row_mode = (
            eps, offset, casting_mode, in_place, row_mode)

    def forward(self, hidden_states):
        x = hidden_states
        eps = float(self.variance_epsilon)
        if self.weight is None:
            return norm("rms", x, None, None, eps, api="LigerRMSNorm")
        scale = self.weight.float() + self.offset  # Liger adds the fp32 offset scalar to the weight row in fp32
        if self.casting_mode == "llama" and x.dtype != torch.float32:
            normed = norm("rms", x, None, None, eps, api="LigerRMSNorm")  # rounded to x's dtype, as HF Llama
            return (normed * scale).to(x.dtype)
        return norm("rms", x, scale, None, eps, out_dtype=x.dtype, api="LigerRMSNorm")

    def extra_repr(self):
        shape = tuple(self.weight.shape) if self.weight is not None else None
        return (f"weight_shape={shape}, eps={self.variance_epsilon}, offset={self.offset}, "
                f"in_place={self.in_place}, row_mode={self.row_mode}")
