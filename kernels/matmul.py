"""Tiled matrix multiplication and linear layers for any M, K, N.

* ``matmul(x, w, bias=None)``: x (..., K) @ w (K, N) (+ bias (N,)).
* ``linear(x, weight, bias=None)``: x (..., K) @ weight (N, K).T (+ bias), the ``F.linear`` contract.
* ``Linear``: drop-in ``nn.Linear`` whose forward goes through ``linear``.
* ``matmul_reference`` / ``linear_reference``: the PyTorch definitions (fp32 accumulation, result in x's dtype).
* kernels ``matmul_kernel``, ``matmul_bias_kernel``, ``linear_kernel``, ``linear_bias_kernel`` in
  ``porter.kernels.device.matmul``.

Operands keep x's dtype on the Tensor Engine (w and bias are cast to it); accumulation is fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import _runtime
from ._common import randn
from .registry import Case, KernelSpec, register


def matmul_reference(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    y = x.float() @ w.to(x.dtype).float()
    if bias is not None:
        y = y + bias.to(x.dtype).float()
    return y.to(x.dtype)


def linear_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    y = x.float() @ weight.to(x.dtype).float().t()
    if bias is not None:
        y = y + bias.to(x.dtype).float()
    return y.to(x.dtype)


def _launch_common(call, x, w, bias, transposed):
    k = x.shape[-1]
    n = w.shape[0] if transposed else w.shape[1]
    if (w.shape[1] if transposed else w.shape[0]) != k:
        raise ValueError(f"inner dimensions differ: x (..., {k}) vs weight {tuple(w.shape)}")
    lead = x.shape[:-1]
    if x.numel() == 0 or n == 0 or k == 0:
        return _empty_or_bias(x, n, bias, lead)
    from .device import matmul as dev

    x2 = x.reshape(-1, k).contiguous()
    w2 = w.to(x.dtype).contiguous()
    if bias is None:
        kernel = dev.linear_kernel if transposed else dev.matmul_kernel
        out = call(kernel, (x2, w2), {})
    else:
        kernel = dev.linear_bias_kernel if transposed else dev.matmul_bias_kernel
        out = call(kernel, (x2, w2, bias.to(x.dtype).reshape(1, n).contiguous()), {})
    return out.reshape(*lead, n)


def _empty_or_bias(x, n, bias, lead):
    out = torch.zeros(*lead, n, dtype=x.dtype, device=x.device)
    if bias is not None:
        out = out + bias.to(x.dtype)
    return out


def _launch_matmul(call, x, w, bias=None):
    return _launch_common(call, x, w, bias, False)


def _launch_linear(call, x, weight, bias=None):
    return _launch_common(call, x, weight, bias, True)


def matmul(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x (..., K) @ w (K, N) (+ bias (N,))."""
    return _runtime.apply_kernel("matmul", _launch_matmul, matmul_reference, (x, w, bias), {})


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x (..., K) @ weight (N, K).T (+ bias (N,)), like ``torch.nn.functional.linear``."""
    return _runtime.apply_kernel("linear", _launch_linear, linear_reference, (x, weight, bias), {})


class Linear(nn.Linear):
    """``nn.Linear`` with its forward routed through porter's tiled-matmul kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def _make_matmul(p, dtype, gen):
    m, k, n = p["m"], p["k"], p["n"]
    x = randn((m, k), dtype, gen, 1 / math.sqrt(k))
    w = randn((k, n), dtype, gen)
    bias = randn((n,), dtype, gen) if p.get("bias") else None
    return (x, w, bias), {}


def _make_linear(p, dtype, gen):
    m, k, n = p["m"], p["k"], p["n"]
    x = randn((m, k), dtype, gen, 1 / math.sqrt(k))
    weight = randn((n, k), dtype, gen)
    bias = randn((n,), dtype, gen) if p.get("bias") else None
    return (x, weight, bias), {}


_TOL = {"float32": (1e-5, 1e-4), "bfloat16": (2e-2, 2e-2)}

MATMUL_SPEC = register(KernelSpec(
    name="matmul",
    summary="tiled matmul x @ w (+ bias) for any M, K, N",
    device_module="matmul",
    kernel_names=("matmul_kernel", "matmul_bias_kernel"),
    reference=matmul_reference,
    launch=_launch_matmul,
    make_inputs=_make_matmul,
    torch_function=matmul,
    cases=(
        Case("1x1x1", {"m": 1, "k": 1, "n": 1}),
        Case("5x7x3", {"m": 5, "k": 7, "n": 3}),
        Case("128x128x512", {"m": 128, "k": 128, "n": 512}),
        Case("130x200x600-bias", {"m": 130, "k": 200, "n": 600, "bias": True}),
        Case("257x129x70", {"m": 257, "k": 129, "n": 70}),
    ),
    tolerances=_TOL,
    bench_case=Case("512x1024x1024", {"m": 512, "k": 1024, "n": 1024}),
))

LINEAR_SPEC = register(KernelSpec(
    name="linear",
    summary="linear layer x @ W.T (+ bias), W in nn.Linear (N, K) layout, any M, K, N",
    device_module="matmul",
    kernel_names=("linear_kernel", "linear_bias_kernel"),
    reference=linear_reference,
    launch=_launch_linear,
    make_inputs=_make_linear,
    torch_function=linear,
    cases=(
        Case("1x1x1-bias", {"m": 1, "k": 1, "n": 1, "bias": True}),
        Case("9x33x17", {"m": 9, "k": 33, "n": 17}),
        Case("128x256x128-bias", {"m": 128, "k": 256, "n": 128, "bias": True}),
        Case("200x150x530", {"m": 200, "k": 150, "n": 530}),
    ),
    tolerances=_TOL,
    bench_case=Case("512x1024x1024", {"m": 512, "k": 1024, "n": 1024, "bias": True}),
))


def __getattr__(name: str):
    if name in MATMUL_SPEC.kernel_names:
        return MATMUL_SPEC.nki_kernels()[name]
    if name in LINEAR_SPEC.kernel_names:
        return LINEAR_SPEC.nki_kernels()[name]
    raise AttributeError(name)
