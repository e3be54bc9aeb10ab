"""Softmax over the last axis.

* ``softmax(x)``: torch-facing function (dispatches; see ``porter.kernels``); ``Softmax()`` the nn.Module.
* ``softmax_reference``: the PyTorch definition (fp32 math, result in x's dtype).
* ``softmax_kernel``: the ``@nki.jit`` kernel (``porter.kernels.device.softmax``).
"""

from __future__ import annotations

import torch
from torch import nn

from . import _runtime
from ._common import randn, rows_2d
from .registry import Case, KernelSpec, register

NAME = "softmax"


def softmax_reference(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x.float(), dim=-1).to(x.dtype)


def _launch(call, x):
    if x.numel() == 0:
        return torch.empty_like(x)
    from .device.softmax import softmax_kernel

    return call(softmax_kernel, (rows_2d(x),), {}).reshape(x.shape)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis."""
    return _runtime.apply_kernel(NAME, _launch, softmax_reference, (x,), {})


class Softmax(nn.Module):
    """Softmax over the last axis (``nn.Softmax(dim=-1)``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return softmax(x)


def _make_inputs(p, dtype, gen):
    return (randn((p["n"], p["d"]), dtype, gen, p.get("scale", 3.0)),), {}


SPEC = register(KernelSpec(
    name=NAME,
    summary="softmax over the last axis",
    device_module="softmax",
    kernel_names=("softmax_kernel",),
    reference=softmax_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=softmax,
    cases=(
        Case("1x1", {"n": 1, "d": 1}),
        Case("3x10", {"n": 3, "d": 10}),
        Case("128x512", {"n": 128, "d": 512}),
        Case("129x333", {"n": 129, "d": 333}),
        Case("300x64-large-logits", {"n": 300, "d": 64, "scale": 30.0}),
        Case("2x9000-chunked", {"n": 2, "d": 9000}),
    ),
    tolerances={"float32": (1e-5, 1e-6), "bfloat16": (2e-2, 2e-3)},
    bench_case=Case("1024x4096", {"n": 1024, "d": 4096}),
))


def __getattr__(name: str):
    if name == "softmax_kernel":
        return SPEC.nki_kernel
    raise AttributeError(name)
