"""LayerNorm over the last axis: ``(x - mean) * rsqrt(var + eps) * weight + bias`` (biased variance).

* ``layer_norm(x, weight=None, bias=None, eps=1e-5)``: torch-facing function (dispatches; see ``porter.kernels``).
* ``LayerNorm(dim, eps)``: the nn.Module (last-axis normalisation only).
* ``layer_norm_reference``: the PyTorch definition (fp32 math, result in x's dtype).
* ``layernorm_kernel``: the ``@nki.jit`` kernel (``porter.kernels.device.norms``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import _runtime
from ._common import as_row, randn, rows_2d
from .registry import Case, KernelSpec, register

NAME = "layernorm"


def layer_norm_reference(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                         eps: float = 1e-5) -> torch.Tensor:
    d = x.shape[-1]
    y = F.layer_norm(x.float(), (d,), None if weight is None else weight.float(),
                     None if bias is None else bias.float(), eps)
    return y.to(x.dtype)


def _launch(call, x, weight=None, bias=None, eps=1e-5):
    if x.numel() == 0:
        return torch.empty_like(x)
    from .device.norms import layernorm_kernel

    d = x.shape[-1]
    args = (rows_2d(x), as_row(weight, d, x, 1.0), as_row(bias, d, x, 0.0))
    return call(layernorm_kernel, args, {"eps": float(eps)}).reshape(x.shape)


def layer_norm(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
               eps: float = 1e-5) -> torch.Tensor:
    return _runtime.apply_kernel(NAME, _launch, layer_norm_reference, (x, weight, bias), {"eps": eps})


class LayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.eps = eps
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.ones(dim, **kw)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(dim, **kw)) if elementwise_affine and bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps)


def _make_inputs(p, dtype, gen):
    n, d = p["n"], p["d"]
    x = randn((n, d), dtype, gen, 2.0) + 0.5
    affine = p.get("affine", True)
    weight = randn((d,), dtype, gen, 0.5) + 1 if affine else None
    bias = randn((d,), dtype, gen, 0.5) if affine else None
    return (x, weight, bias), {"eps": 1e-5}


SPEC = register(KernelSpec(
    name=NAME,
    summary="LayerNorm over the last axis ((x - mean) * rsqrt(var + eps) * weight + bias)",
    device_module="norms",
    kernel_names=("layernorm_kernel",),
    reference=layer_norm_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=layer_norm,
    cases=(
        Case("1x8", {"n": 1, "d": 8}),
        Case("7x45", {"n": 7, "d": 45}),
        Case("128x128", {"n": 128, "d": 128}),
        Case("200x77-noaffine", {"n": 200, "d": 77, "affine": False}),
        Case("260x300", {"n": 260, "d": 300}),
        Case("2x4200-chunked", {"n": 2, "d": 4200}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("1024x4096", {"n": 1024, "d": 4096}),
))


def __getattr__(name: str):
    if name == "layernorm_kernel":
        return SPEC.nki_kernel
    raise AttributeError(name)
