"""Attention forward, flash style (online softmax tiled over the key sequence), with grouped-query heads.

``attention(q, k, v, causal=False, attention_mask=None, scale=None)``

* q (B, Hq, Sq, D); k, v (B, Hkv, Sk, D) with Hq a multiple of Hkv (query head h uses kv head h // (Hq / Hkv));
  D <= 512. Returns (B, Hq, Sq, D) in q's dtype.
* ``scale`` defaults to 1 / sqrt(D).
* ``causal``: query i sees keys j <= i (top-left aligned, like ``F.scaled_dot_product_attention(is_causal=True)``).
* ``attention_mask``: key padding mask (B, Sk), True / nonzero = attend (the Hugging Face convention); a float
  tensor is taken as an additive bias in score units instead (0 keeps, large negative drops).
* Masks use the finite ``NEG_INF`` = -30000 (post-scale score units), not -inf, so no row ever produces NaN. A row
  whose keys are all masked has no meaningful answer: with the padding mask alone it degrades to attention over
  all keys, with causal masking to the mean of the values. Gradients come from the reference (recomputed in
  backward).

Also: ``attention_reference`` (the PyTorch definition, fp32 math), ``Attention`` (nn.Module over the function),
and the ``@nki.jit`` kernels ``attention_kernel`` / ``attention_masked_kernel`` in
``porter.kernels.device.attention``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import _runtime
from ._common import randn
from .registry import Case, KernelSpec, register

NAME = "attention"
NEG_INF = -30000.0
MAX_HEAD_DIM = 512


def _check(q, k, v):
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError("q, k, v must be (B, H, S, D)")
    b, hq, _, d = q.shape
    if k.shape != v.shape:
        raise ValueError(f"k and v shapes differ: {tuple(k.shape)} vs {tuple(v.shape)}")
    if k.shape[0] != b or k.shape[3] != d:
        raise ValueError(f"k/v {tuple(k.shape)} do not match q {tuple(q.shape)} in batch or head dim")
    if k.shape[1] == 0 or hq % k.shape[1]:
        raise ValueError(f"query heads ({hq}) must be a multiple of kv heads ({k.shape[1]})")


def mask_to_bias(attention_mask: torch.Tensor | None, batch: int, sk: int) -> torch.Tensor | None:
    """Key padding mask (B, Sk) -> additive fp32 bias (B, Sk): 0 where attended, NEG_INF where masked."""
    if attention_mask is None:
        return None
    m = attention_mask
    if m.dim() == 4 and m.shape[1] == 1 and m.shape[2] == 1:  # (B, 1, 1, Sk) broadcast form
        m = m[:, 0, 0, :]
    if m.dim() != 2 or m.shape[1] != sk or m.shape[0] not in (1, batch):
        raise ValueError(f"attention_mask must be (B, Sk) = ({batch}, {sk}), got {tuple(attention_mask.shape)}")
    if m.dtype.is_floating_point:
        # -inf / finfo.min (the Hugging Face convention) would make a fully masked key tile's running
        # max -inf and the online softmax NaN; NEG_INF drops the key just as well.
        bias = m.float().clamp(min=NEG_INF)
    else:
        bias = torch.where(m.bool(), 0.0, NEG_INF).float()
    return bias.expand(batch, sk).contiguous()


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                        attention_mask: torch.Tensor | None = None, scale: float | None = None) -> torch.Tensor:
    _check(q, k, v)
    b, hq, sq, d = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    group = hq // hkv
    kf = k.float().repeat_interleave(group, dim=1)
    vf = v.float().repeat_interleave(group, dim=1)
    scores = torch.matmul(q.float(), kf.transpose(-1, -2)) * scale
    bias = mask_to_bias(attention_mask, b, sk)
    if bias is not None:
        scores = scores + bias[:, None, None, :]
    if causal:
        keep = torch.ones(sq, sk, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, NEG_INF)
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs, vf).to(q.dtype)


def _launch(call, q, k, v, causal=False, attention_mask=None, scale=None):
    _check(q, k, v)
    b, hq, sq, d = q.shape
    sk = k.shape[2]
    if d > MAX_HEAD_DIM:
        raise ValueError(f"head dim {d} > {MAX_HEAD_DIM} is not supported by the NKI kernel")
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    if q.numel() == 0:
        return torch.empty_like(q)
    if sk == 0:
        return torch.zeros_like(q)
    from .device import attention as dev

    qc, kc, vc = q.contiguous(), k.to(q.dtype).contiguous(), v.to(q.dtype).contiguous()
    bias = mask_to_bias(attention_mask, b, sk)
    params = {"causal": bool(causal), "scale": scale}
    if bias is None:
        return call(dev.attention_kernel, (qc, kc, vc), params)
    return call(dev.attention_masked_kernel, (qc, kc, vc, bias.to(q.device)), params)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
              attention_mask: torch.Tensor | None = None, scale: float | None = None) -> torch.Tensor:
    """softmax(scale * q @ k.T + masks) @ v over (B, H, S, D) tensors; see the module docstring."""
    _check(q, k, v)
    return _runtime.apply_kernel(NAME, _launch, attention_reference, (q, k, v),
                                 {"causal": causal, "attention_mask": attention_mask, "scale": scale})


class Attention(nn.Module):
    """Stateless module around ``attention`` (for swapping into models that expect an attention callable)."""

    def __init__(self, causal: bool = False, scale: float | None = None):
        super().__init__()
        self.causal, self.scale = causal, scale

    def forward(self, q, k, v, attention_mask=None):
        return attention(q, k, v, self.causal, attention_mask, self.scale)


def padding_mask(lengths: list[int], sk: int) -> torch.Tensor:
    """(B, Sk) bool mask keeping the first ``lengths[b]`` keys of each batch row (right padding)."""
    return torch.arange(sk)[None, :] < torch.tensor(lengths)[:, None]


def _make_inputs(p, dtype, gen):
    b, hq, hkv, sq, sk, d = p["b"], p["hq"], p.get("hkv", p["hq"]), p["sq"], p.get("sk", p["sq"]), p["d"]
    q = randn((b, hq, sq, d), dtype, gen)
    k = randn((b, hkv, sk, d), dtype, gen)
    v = randn((b, hkv, sk, d), dtype, gen)
    mask = None
    if p.get("lengths"):
        mask = padding_mask(p["lengths"], sk)
    return (q, k, v), {"causal": bool(p.get("causal", False)), "attention_mask": mask, "scale": p.get("scale")}


SPEC = register(KernelSpec(
    name=NAME,
    summary="flash attention forward: online softmax over key tiles, causal/padding masks, GQA",
    device_module="attention",
    kernel_names=("attention_kernel", "attention_masked_kernel"),
    reference=attention_reference,
    launch=_launch,
    make_inputs=_make_inputs,
    torch_function=attention,
    cases=(
        Case("1x1x1x8", {"b": 1, "hq": 1, "sq": 1, "d": 8}),
        Case("1x2x37x16-causal", {"b": 1, "hq": 2, "sq": 37, "d": 16, "causal": True}),
        Case("2x4/2x130x32-gqa-causal", {"b": 2, "hq": 4, "hkv": 2, "sq": 130, "d": 32, "causal": True}),
        Case("1x2x600x64-causal", {"b": 1, "hq": 2, "sq": 600, "d": 64, "causal": True}),
        Case("2x2x50/700x48-padding", {"b": 2, "hq": 2, "sq": 50, "sk": 700, "d": 48, "lengths": [700, 333]}),
        Case("1x4/1x70x140-mqa-padding-causal-scale", {"b": 1, "hq": 4, "hkv": 1, "sq": 70, "d": 140,
                                                        "causal": True, "lengths": [61], "scale": 0.2}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("1x8x2048x128", {"b": 1, "hq": 8, "sq": 2048, "d": 128}),
))


def __getattr__(name: str):
    if name in SPEC.kernel_names:
        return SPEC.nki_kernels()[name]
    raise AttributeError(name)
