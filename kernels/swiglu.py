"""SwiGLU: ``silu(a) * b`` (the Llama MLP gate).

* ``swiglu(a, b)``: torch-facing function; ``swiglu(x)`` with one tensor splits its last axis in half (gate, up).
* ``SwiGLU()``: nn.Module applying ``swiglu`` to one tensor (last axis halves).
* ``swiglu_reference``: the PyTorch definition (fp32 math, result in a's dtype).
* ``swiglu_kernel``: the ``@nki.jit`` kernel (``porter.kernels.device.glu``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import _runtime
from ._common import randn, rows_2d
from .registry import Case, KernelSpec, register

NAME = "swiglu"


def swiglu_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (F.silu(a.float()) * b.float()).to(a.dtype)


def _check(a, b):
    if a.shape != b.shape:
        raise ValueError(f"gate and value shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")


def _launch(call, a, b):
    _check(a, b)
    if a.numel() == 0:
        return torch.empty_like(a)
    from .device.glu import swiglu_kernel

    return call(swiglu_kernel, (rows_2d(a), rows_2d(b.to(a.dtype))), {}).reshape(a.shape)


def swiglu(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """silu(a) * b; with ``b`` omitted, ``a`` is split in two along its last axis (gate first)."""
    if b is None:
        a, b = a.chunk(2, dim=-1)
    _check(a, b)
    return _runtime.apply_kernel(NAME, _launch, swiglu_reference, (a, b), {})


class SwiGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x)


def _make_inputs(p, dtype, gen):
    shape = (p["n"], p["d"])
    return (randn(shape, dtype, gen, 2.0), randn(shape, dtype, gen)), {}


SPEC = register(KernelSpec(
    name=NAME,
    summary="SwiGLU gate: silu(a) * b",
    device_module="glu",
    kernel_names=("swiglu_kernel",),
    reference=swiglu_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=swiglu,
    cases=(
        Case("1x1", {"n": 1, "d": 1}),
        Case("4x37", {"n": 4, "d": 37}),
        Case("128x256", {"n": 128, "d": 256}),
        Case("131x2100", {"n": 131, "d": 2100}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("1024x4096", {"n": 1024, "d": 4096}),
))


def __getattr__(name: str):
    if name == "swiglu_kernel":
        return SPEC.nki_kernel
    raise AttributeError(name)
