"""Shim for ``flash_attn.ops.rms_norm`` (flash-attention 2.x) on ``porter.kernels.rms_norm``.

* ``rms_norm(x, weight, epsilon)``: ``x * rsqrt(mean(x**2, -1) + epsilon) * weight`` over the last axis, fp32
  statistics, output in x's dtype.
* ``dropout_add_rms_norm(x0, residual, weight, bias, dropout_p, epsilon, rowscale=None, layerscale=None,
  prenorm=False, residual_in_fp32=False, return_dropout_mask=False)``: as
  ``flash_attn.ops.layer_norm.dropout_add_layer_norm`` with RMSNorm (``bias``, usually None, is added after the
  scaling).
* ``RMSNorm(hidden_size, eps=1e-5, device=None, dtype=None)``: parameter ``weight`` (ones), ``bias`` registered
  as None, attribute ``eps``.
* ``DropoutAddRMSNorm(hidden_size, prenorm=False, p=0.0, eps=1e-5, residual_in_fp32=False, device=None,
  dtype=None)``: parameter ``weight``; attribute ``epsilon``.

``dropout_p > 0`` (a module with ``p > 0`` in training mode) raises
:class:`~porter.kernels.compat.UnsupportedArgumentError`.
"""

from __future__ import annotations

import torch
from torch.nn import init

from ..._util import norm
from .layer_norm import dropout_add_norm

__all__ = ["DropoutAddRMSNorm", "RMSNorm", "dropout_add_rms_norm", "rms_norm"]


def rms_norm(x, weight, epsilon):
    """``flash_attn.ops.rms_norm.rms_norm``."""
    return norm("rms", x, weight, None, float(epsilon), api="flash_attn.ops.rms_norm.rms_norm")


def dropout_add_rms_norm(x0, residual, weight, bias, dropout_p, epsilon, rowscale=None, layerscale=None,
                         prenorm=False, residual_in_fp32=False, return_dropout_mask=False):
    """``flash_attn.ops.rms_norm.dropout_add_rms_norm`` (see the module docstring)."""
    return dropout_add_norm("rms", "flash_attn.ops.rms_norm.dropout_add_rms_norm", x0, residual, weight, bias,
                            dropout_p, epsilon, rowscale, layerscale, prenorm, residual_in_fp32,
                            return_dropout_mask)


class RMSNorm(torch.nn.Module):
    """``flash_attn.ops.rms_norm.RMSNorm``: parameter ``weight`` (ones); ``bias`` is None."""

    def __init__(self, hidden_size, eps=1e-5, device=None, dtype=None):
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.empty(hidden_size, **factory_kwargs))
        self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.ones_(self.weight)

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class DropoutAddRMSNorm(torch.nn.Module):
    """``flash_attn.ops.rms_norm.DropoutAddRMSNorm``: parameter ``weight`` (ones); ``bias`` is None."""

    def __init__(self, hidden_size, prenorm=False, p=0.0, eps=1e-5, residual_in_fp32=False, device=None,
                 dtype=None):
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.prenorm = prenorm
        self.p = p
        self.epsilon = eps
        self.residual_in_fp32 = residual_in_fp32
        self.weight = torch.nn.Parameter(torch.empty(hidden_size, **factory_kwargs))
        self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.ones_(self.weight)

    def forward(self, x0, residual=None):
        return dropout_add_rms_norm(x0, residual, self.weight, None, self.p if self.training else 0.0,
                                    self.epsilon, prenorm=self.prenorm, residual_in_fp32=self.residual_in_fp32)
