"""Shim for ``apex.normalization.fused_layer_norm`` on ``porter.kernels.layer_norm`` / ``rms_norm``.

Modules (apex's constructor arguments, ``weight`` / ``bias`` parameters, ``normalized_shape`` as ``torch.Size``):

* ``FusedLayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, memory_efficient=False)``:
  ``(x - mean) / sqrt(var + eps) * weight + bias`` (biased variance, eps inside the square root);
* ``FusedRMSNorm(normalized_shape, eps=1e-5, elementwise_affine=True, memory_efficient=False)``:
  ``x / sqrt(mean(x**2) + eps) * weight`` (eps added to the mean square, then the root);
* ``MixedFusedLayerNorm`` / ``MixedFusedRMSNorm(normalized_shape, eps=1e-5, *, memory_efficient=False)``: always
  affine; the output takes the parameters' dtype (the non-mixed modules return the input's dtype).

Statistics run over all axes of ``normalized_shape`` (several trailing axes are flattened into one for the
kernel, which is exact). Math is fp32, as in apex's CUDA kernels. ``memory_efficient`` only changes what apex
saves for the backward and has no effect here. The functional forms (``fused_layer_norm_affine`` ...) are
provided with apex's signatures.
"""

from __future__ import annotations

import numbers
import warnings

import torch
from torch.nn import init
from torch.nn.parameter import Parameter

from ..._util import norm

__all__ = [
    "FusedLayerNorm",
    "FusedRMSNorm",
    "MixedFusedLayerNorm",
    "MixedFusedRMSNorm",
    "fused_layer_norm",
    "fused_layer_norm_affine",
    "fused_rms_norm",
    "fused_rms_norm_affine",
    "mixed_dtype_fused_layer_norm_affine",
    "mixed_dtype_fused_rms_norm_affine",
]


def fused_layer_norm_affine(input, weight, bias, normalized_shape, eps=1e-6, memory_efficient=False):
    """``apex.normalization.fused_layer_norm.fused_layer_norm_affine``: affine LayerNorm, input dtype out."""
    return norm("layer", input, weight, bias, eps, normalized_shape=normalized_shape,
                api="apex fused_layer_norm_affine")


def fused_layer_norm(input, normalized_shape, eps=1e-6, memory_efficient=False):
    """``apex.normalization.fused_layer_norm.fused_layer_norm``: LayerNorm without affine parameters."""
    return norm("layer", input, None, None, eps, normalized_shape=normalized_shape, api="apex fused_layer_norm")


def mixed_dtype_fused_layer_norm_affine(input, weight, bias, normalized_shape, eps=1e-6, memory_efficient=False):
    """``apex ... mixed_dtype_fused_layer_norm_affine``: affine LayerNorm, output in the weight's dtype."""
    return norm("layer", input, weight, bias, eps, out_dtype=weight.dtype, normalized_shape=normalized_shape,
                api="apex mixed_dtype_fused_layer_norm_affine")


def fused_rms_norm_affine(input, weight, normalized_shape, eps=1e-6, memory_efficient=False):
    """``apex.normalization.fused_layer_norm.fused_rms_norm_affine``: affine RMSNorm, input dtype out."""
    return norm("rms", input, weight, None, eps, normalized_shape=normalized_shape, api="apex fused_rms_norm_affine")


def fused_rms_norm(input, normalized_shape, eps=1e-6, memory_efficient=False):
    """``apex.normalization.fused_layer_norm.fused_rms_norm``: RMSNorm without a weight."""
    return norm("rms", input, None, None, eps, normalized_shape=normalized_shape, api="apex fused_rms_norm")


def mixed_dtype_fused_rms_norm_affine(input, weight, normalized_shape, eps=1e-6, memory_efficient=False):
    """``apex ... mixed_dtype_fused_rms_norm_affine``: affine RMSNorm, output in the weight's dtype."""
    return norm("rms", input, weight, None, eps, out_dtype=weight.dtype, normalized_shape=normalized_shape,
                api="apex mixed_dtype_fused_rms_norm_affine")


class FusedLayerNorm(torch.nn.Module):
    """``apex.normalization.FusedLayerNorm``: LayerNorm over ``normalized_shape``; output in the input's dtype."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, memory_efficient=False):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = torch.Size(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.memory_efficient = memory_efficient
        if self.elementwise_affine:
            self.weight = Parameter(torch.empty(*normalized_shape))
            self.bias = Parameter(torch.empty(*normalized_shape))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input):
        return norm("layer", input, self.weight, self.bias, self.eps, normalized_shape=self.normalized_shape,
                    api="apex FusedLayerNorm")

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class FusedRMSNorm(torch.nn.Module):
    """``apex.normalization.FusedRMSNorm``: RMSNorm over ``normalized_shape``; output in the input's dtype."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, memory_efficient=False):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = torch.Size(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.memory_efficient = memory_efficient
        if self.elementwise_affine:
            self.weight = Parameter(torch.empty(*normalized_shape))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, input):
        return norm("rms", input, self.weight, None, self.eps, normalized_shape=self.normalized_shape,
                    api="apex FusedRMSNorm")

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def _mixed_affine(cls_name: str, kwargs: dict) -> None:
    if "elementwise_affine" in kwargs:
        warnings.warn(f"{cls_name} does not support `elementwise_affine` argument", stacklevel=3)
        if not kwargs.pop("elementwise_affine"):
            raise RuntimeError(f"{cls_name} does not support `elementwise_affine = False`")


class MixedFusedLayerNorm(FusedLayerNorm):
    """``apex.normalization.MixedFusedLayerNorm``: affine LayerNorm whose output has the parameters' dtype."""

    def __init__(self, normalized_shape, eps=1e-5, *, memory_efficient=False, **kwargs):
        _mixed_affine("MixedFusedLayerNorm", kwargs)
        super().__init__(normalized_shape=normalized_shape, eps=eps, elementwise_affine=True,
                         memory_efficient=memory_efficient)

    def forward(self, input):
        return mixed_dtype_fused_layer_norm_affine(input, self.weight, self.bias, self.normalized_shape, self.eps)


class MixedFusedRMSNorm(FusedRMSNorm):
    """``apex.normalization.MixedFusedRMSNorm``: affine RMSNorm whose output has the parameters' dtype."""

    def __init__(self, normalized_shape, eps=1e-5, *, memory_efficient=False, **kwargs):
        _mixed_affine("MixedFusedRMSNorm", kwargs)
        super().__init__(normalized_shape=normalized_shape, eps=eps, elementwise_affine=True,
                         memory_efficient=memory_efficient)

    def forward(self, input):
        return mixed_dtype_fused_rms_norm_affine(input, self.weight, self.normalized_shape, self.eps)
