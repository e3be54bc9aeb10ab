"""Rotary position embedding (RoPE), half rotation (Llama / GPT-NeoX) or interleaved (GPT-J).

``apply_rotary(x, cos, sin, interleaved=False)`` rotates the last axis of ``x`` (..., S, D): the sequence is
axis -2, D is even. ``cos`` / ``sin`` hold one angle per rotated pair, shape (S, D/2); full-width tables (S, D)
as built by Hugging Face models are accepted too and reduced to one entry per pair (the first half for half
rotation, the even entries for interleaved), and leading size-1 axes ((1, 1, S, D) etc.) are dropped.

* half rotation pairs (x[i], x[i + D/2]); interleaved pairs (x[2i], x[2i + 1]);
* for a pair (x1, x2): (x1 * cos - x2 * sin, x2 * cos + x1 * sin).

Also: ``rotary_reference`` (the PyTorch definition), ``RotaryEmbedding`` (nn.Module building the tables),
``rotary_kernel`` (the ``@nki.jit`` kernel in ``porter.kernels.device.rotary``).
"""

from __future__ import annotations

import torch
from torch import nn

from . import _runtime
from ._common import randn
from .registry import Case, KernelSpec, register

NAME = "rotary"


def _half_tables(cos: torch.Tensor, sin: torch.Tensor, d: int, seq: int, interleaved: bool):
    if d % 2:
        raise ValueError(f"rotary embedding needs an even last axis, got {d}")
    tables = []
    for t in (cos, sin):
        while t.dim() > 2:
            if t.shape[0] != 1:
                raise ValueError(f"cos/sin must be (S, D/2) or (S, D) with leading size-1 axes; got "
                                 f"{tuple(t.shape)} (per-batch positions are not supported)")
            t = t[0]
        if t.dim() == 1:
            t = t.unsqueeze(0)
        if t.shape[-1] == d:
            t = t[:, 0::2] if interleaved else t[:, : d // 2]
        if t.shape[-1] != d // 2 or t.shape[0] != seq:
            raise ValueError(f"cos/sin shape {tuple(t.shape)} does not fit x with S={seq}, D={d}")
        tables.append(t)
    return tables[0], tables[1]


def rotary_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = False):
    d = x.shape[-1]
    c, s = _half_tables(cos, sin, d, x.shape[-2], interleaved)
    c, s = c.float(), s.float()
    xf = x.float()
    if interleaved:
        x1, x2 = xf[..., 0::2], xf[..., 1::2]
    else:
        x1, x2 = xf[..., : d // 2], xf[..., d // 2:]
    o1 = x1 * c - x2 * s
    o2 = x2 * c + x1 * s
    out = torch.stack((o1, o2), dim=-1).flatten(-2) if interleaved else torch.cat((o1, o2), dim=-1)
    return out.to(x.dtype)


def _launch(call, x, cos, sin, interleaved=False):
    if x.dim() < 2:
        raise ValueError("x must be (..., S, D)")
    seq, d = x.shape[-2], x.shape[-1]
    c, s = _half_tables(cos, sin, d, seq, interleaved)
    if x.numel() == 0:
        return torch.empty_like(x)
    from .device.rotary import rotary_kernel

    x3 = x.reshape(-1, seq, d).contiguous()
    out = call(rotary_kernel, (x3, c.contiguous(), s.contiguous()), {"interleaved": bool(interleaved)})
    return out.reshape(x.shape)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    return _runtime.apply_kernel(NAME, _launch, rotary_reference, (x, cos, sin), {"interleaved": interleaved})


def rotary_tables(seq_len: int, dim: int, base: float = 10000.0, dtype=torch.float32, device=None):
    """(cos, sin), each (seq_len, dim / 2): angle[p, i] = p * base ** (-2i / dim)."""
    inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
    angles = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None] * inv_freq[None, :]
    return angles.cos().to(dtype), angles.sin().to(dtype)


class RotaryEmbedding(nn.Module):
    """Applies RoPE to (..., S, D) tensors, building (and caching) the tables for the sequence length."""

    def __init__(self, dim: int, base: float = 10000.0, interleaved: bool = False):
        super().__init__()
        self.dim, self.base, self.interleaved = dim, base, interleaved
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.shape[-2], x.device)
        if key not in self._cache:
            self._cache[key] = rotary_tables(x.shape[-2], self.dim, self.base, device=x.device)
        cos, sin = self._cache[key]
        return apply_rotary(x, cos, sin, self.interleaved)


def _make_inputs(p, dtype, gen):
    b, h, s, d = p["b"], p["h"], p["s"], p["d"]
    x = randn((b, h, s, d), dtype, gen)
    cos, sin = rotary_tables(s, d)
    if p.get("full_width"):
        if p.get("interleaved"):
            cos, sin = cos.repeat_interleave(2, -1), sin.repeat_interleave(2, -1)
        else:
            cos, sin = torch.cat((cos, cos), -1), torch.cat((sin, sin), -1)
    return (x, cos.to(p.get("table_dtype", torch.float32)), sin.to(p.get("table_dtype", torch.float32))), {
        "interleaved": bool(p.get("interleaved", False))}


SPEC = register(KernelSpec(
    name=NAME,
    summary="rotary position embedding, half rotation (NeoX/Llama) or interleaved (GPT-J)",
    device_module="rotary",
    kernel_names=("rotary_kernel",),
    reference=rotary_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=apply_rotary,
    cases=(
        Case("half-1x1x1x2", {"b": 1, "h": 1, "s": 1, "d": 2}),
        Case("half-1x2x7x8", {"b": 1, "h": 2, "s": 7, "d": 8}),
        Case("interleaved-1x2x7x8", {"b": 1, "h": 2, "s": 7, "d": 8, "interleaved": True}),
        Case("half-2x2x130x64-fullwidth", {"b": 2, "h": 2, "s": 130, "d": 64, "full_width": True}),
        Case("interleaved-1x3x129x36-fullwidth", {"b": 1, "h": 3, "s": 129, "d": 36, "interleaved": True,
                                                  "full_width": True}),
        Case("half-1x1x300x128", {"b": 1, "h": 1, "s": 300, "d": 128}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("1x8x2048x128", {"b": 1, "h": 8, "s": 2048, "d": 128}),
))


def __getattr__(name: str):
    if name == "rotary_kernel":
        return SPEC.nki_kernel
    raise AttributeError(name)
