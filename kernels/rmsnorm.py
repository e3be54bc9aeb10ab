"""RMSNorm over the last axis: ``x * rsqrt(mean(x**2, -1) + eps) * weight``.

* ``rms_norm(x, weight=None, eps=1e-6)``: torch-facing function (dispatches; see ``porter.kernels``).
* ``RMSNorm(dim, eps)``: the nn.Module.
* ``rms_norm_reference``: the PyTorch definition (fp32 math, result in x's dtype).
* ``rmsnorm_kernel``: the ``@nki.jit`` kernel (``porter.kernels.device.norms``, imported on first access).
"""

from __future__ import annotations

import torch
from torch import nn

from . import _runtime
from ._common import as_row, randn, rows_2d
from .registry import Case, KernelSpec, register

NAME = "rmsnorm"


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    if weight is not None:
        y = y * weight.float()
    return y.to(x.dtype)


def _launch(call, x, weight=None, eps=1e-6):
    if x.numel() == 0:
        return torch.empty_like(x)
    from .device.norms import rmsnorm_kernel

    d = x.shape[-1]
    out = call(rmsnorm_kernel, (rows_2d(x), as_row(weight, d, x, 1.0)), {"eps": float(eps)})
    return out.reshape(x.shape)


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    return _runtime.apply_kernel(NAME, _launch, rms_norm_reference, (x, weight), {"eps": eps})


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6, elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, device=device, dtype=dtype)) if elementwise_affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


def _make_inputs(p, dtype, gen):
    n, d = p["n"], p["d"]
    x = randn((n, d), dtype, gen)
    weight = randn((d,), dtype, gen, 0.5) + 1 if p.get("weight", True) else None
    return (x, weight), {"eps": 1e-6}


SPEC = register(KernelSpec(
    name=NAME,
    summary="RMSNorm over the last axis (x * rsqrt(mean(x^2) + eps) * weight)",
    device_module="norms",
    kernel_names=("rmsnorm_kernel",),
    reference=rms_norm_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=rms_norm,
    cases=(
        Case("1x8", {"n": 1, "d": 8}),
        Case("5x33", {"n": 5, "d": 33}),
        Case("128x64", {"n": 128, "d": 64}),
        Case("130x96-noweight", {"n": 130, "d": 96, "weight": False}),
        Case("257x200", {"n": 257, "d": 200}),
        Case("3x4100-chunked", {"n": 3, "d": 4100}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("1024x4096", {"n": 1024, "d": 4096}),
))


def __getattr__(name: str):
    if name == "rmsnorm_kernel":
        return SPEC.nki_kernel
    raise AttributeError(name)
