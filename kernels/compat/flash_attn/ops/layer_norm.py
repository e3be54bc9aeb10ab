"""Shim for ``flash_attn.ops.layer_norm`` (flash-attention 2.x) on ``porter.kernels.layer_norm``.

* ``layer_norm(x, weight, bias, epsilon)``: LayerNorm over the last axis (biased variance, ``epsilon`` inside the
  square root), output in x's dtype.
* ``dropout_add_layer_norm(x0, residual, weight, bias, dropout_p, epsilon, rowscale=None, layerscale=None,
  prenorm=False, residual_in_fp32=False, return_dropout_mask=False)``: ``x = x0 * rowscale * layerscale +
  residual`` (in fp32), ``z = LayerNorm(x)``; returns z (x0's dtype), plus x when ``prenorm`` (dtype: residual's,
  else fp32 with ``residual_in_fp32``, else x0's), plus an all-ones uint8 mask with ``return_dropout_mask``.
* ``DropoutAddLayerNorm(hidden_size, prenorm=False, p=0.0, eps=1e-5, residual_in_fp32=False, device=None,
  dtype=None)``: parameters ``weight`` / ``bias``; attribute ``epsilon``.

``dropout_p > 0`` (a module with ``p > 0`` in training mode) raises
:class:`~porter.kernels.compat.UnsupportedArgumentError`: the fused dropout is not implemented.
"""

from __future__ import annotations

import torch
from torch.nn import init

from ..._util import norm, unsupported

__all__ = ["DropoutAddLayerNorm", "dropout_add_layer_norm", "layer_norm"]


def layer_norm(x, weight, bias, epsilon):
    """``flash_attn.ops.layer_norm.layer_norm``."""
    return norm("layer", x, weight, bias, float(epsilon), api="flash_attn.ops.layer_norm.layer_norm")


def dropout_add_norm(kind, api, x0, residual, weight, bias, dropout_p, epsilon, rowscale=None, layerscale=None,
                     prenorm=False, residual_in_fp32=False, return_dropout_mask=False):
    """The shared body of ``dropout_add_layer_norm`` / ``dropout_add_rms_norm`` (``kind`` "layer" / "rms")."""
    if dropout_p is not None and float(dropout_p) != 0.0:
        raise unsupported(api, "dropout_p", dropout_p,
                          "fused dropout is not implemented; pass 0.0 outside training")
    if residual is not None:
        residual_dtype = residual.dtype
    else:
        residual_dtype = torch.float32 if residual_in_fp32 else x0.dtype
    plain = residual is None and rowscale is None and layerscale is None
    if plain:
        x = x0.to(residual_dtype)
        z = norm(kind, x0, weight, bias, float(epsilon), out_dtype=x0.dtype, api=api)
    else:
        xf = x0.float()
        if rowscale is not None:
            xf = xf * rowscale.reshape(*x0.shape[:-1], 1).float()
        if layerscale is not None:
            xf = xf * layerscale.float()
        if residual is not None:
            xf = xf + residual.float()
        x = xf.to(residual_dtype)
        # the CUDA kernel normalises the fp32 sum, not its rounded copy
        z = norm(kind, xf, weight, bias, float(epsilon), out_dtype=x0.dtype, api=api)
    outputs = (z, x) if prenorm else (z,)
    if return_dropout_mask:
        outputs = (*outputs, torch.ones(x0.shape, dtype=torch.uint8, device=x0.device))
    return outputs[0] if len(outputs) == 1 else outputs


def dropout_add_layer_norm(x0, residual, weight, bias, dropout_p, epsilon, rowscale=None, layerscale=None,
                           prenorm=False, residual_in_fp32=False, return_dropout_mask=False):
    """``flash_attn.ops.layer_norm.dropout_add_layer_norm`` (see the module docstring)."""
    return dropout_add_norm("layer", "flash_attn.ops.layer_norm.dropout_add_layer_norm", x0, residual, weight,
                            bias, dropout_p, epsilon, rowscale, layerscale, prenorm, residual_in_fp32,
                            return_dropout_mask)


class DropoutAddLayerNorm(torch.nn.Module):
    """``flash_attn.ops.layer_norm.DropoutAddLayerNorm``: parameters ``weight`` (ones) and ``bias`` (zeros)."""

    def __init__(self, hidden_size, prenorm=False, p=0.0, eps=1e-5, residual_in_fp32=False, device=None,
                 dtype=None):
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.prenorm = prenorm
        self.p = p
        self.epsilon = eps
        self.residual_in_fp32 = residual_in_fp32
        self.weight = torch.nn.Parameter(torch.empty(hidden_size, **factory_kwargs))
        self.bias = torch.nn.Parameter(torch.empty(hidden_size, **factory_kwargs))
        self.reset_parameters()

    def reset_parameters(self):
        init.ones_(self.weight)
        init.zeros_(self.bias)

    def forward(self, x0, residual=None):
        return dropout_add_layer_norm(x0, residual, self.weight, self.bias, self.p if self.training else 0.0,
                                      self.epsilon, prenorm=self.prenorm, residual_in_fp32=self.residual_in_fp32)
