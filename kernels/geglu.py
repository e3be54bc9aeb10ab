"""GeGLU: ``gelu(a) * b`` with exact (erf) GELU or its tanh approximation.

* ``geglu(a, b, approximate="none")``: torch-facing function; with one tensor, splits its last axis in half.
* ``GeGLU(approximate="none")``: nn.Module applying ``geglu`` to one tensor (last axis halves).
* ``geglu_reference``: the PyTorch definition (fp32 math, result in a's dtype).
* ``geglu_kernel``: the ``@nki.jit`` kernel (``porter.kernels.device.glu``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import _runtime
from ._common import randn, rows_2d
from .registry import Case, KernelSpec, register

NAME = "geglu"
APPROXIMATIONS = ("none", "tanh")


def geglu_reference(a: torch.Tensor, b: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    return (F.gelu(a.float(), approximate=approximate) * b.float()).to(a.dtype)


def _check(a, b, approximate):
    if a.shape != b.shape:
        raise ValueError(f"gate and value shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"approximate must be one of {APPROXIMATIONS}, not {approximate!r}")


def _launch(call, a, b, approximate="none"):
    _check(a, b, approximate)
    if a.numel() == 0:
        return torch.empty_like(a)
    from .device.glu import geglu_kernel

    out = call(geglu_kernel, (rows_2d(a), rows_2d(b.to(a.dtype))), {"approximate": approximate})
    return out.reshape(a.shape)


def geglu(a: torch.Tensor, b: torch.Tensor | None = None, approximate: str = "none") -> torch.Tensor:
    """gelu(a) * b; with ``b`` omitted, ``a`` is split in two along its last axis (gate first)."""
    if b is None:
        a, b = a.chunk(2, dim=-1)
    _check(a, b, approximate)
    return _runtime.apply_kernel(NAME, _launch, geglu_reference, (a, b), {"approximate": approximate})


class GeGLU(nn.Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return geglu(x, approximate=self.approximate)


def _make_inputs(p, dtype, gen):
    shape = (p["n"], p["d"])
    return (randn(shape, dtype, gen, 2.0), randn(shape, dtype, gen)), {"approximate": p.get("approximate", "none")}


SPEC = register(KernelSpec(
    name=NAME,
    summary="GeGLU gate: gelu(a) * b (erf or tanh GELU)",
    device_module="glu",
    kernel_names=("geglu_kernel",),
    reference=geglu_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=geglu,
    cases=(
        Case("1x1", {"n": 1, "d": 1}),
        Case("6x50", {"n": 6, "d": 50}),
        Case("128x256-tanh", {"n": 128, "d": 256, "approximate": "tanh"}),
        Case("140x2049", {"n": 140, "d": 2049}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("1024x4096", {"n": 1024, "d": 4096}),
))


def __getattr__(name: str):
    if name == "geglu_kernel":
        return SPEC.nki_kernel
    raise AttributeError(name)
