"""Shim for ``xformers.ops.fmha``: ``memory_efficient_attention`` on ``porter.kernels.attention``.

``memory_efficient_attention(query, key, value, attn_bias=None, p=0.0, scale=None, *, op=None,
output_dtype=None)`` mirrors xformers:

* query (B, M_q, H, K), key / value (B, M_k, H_kv, K); also (B, M, K) (one head) and (B, M, G, H, K)
  (grouped heads). H must be a multiple of H_kv (query head h reads kv head h // (H / H_kv)). Output
  (B, M_q, H, K) in query's dtype (``output_dtype`` to override), contiguous.
* ``scale`` defaults to 1 / sqrt(K); ``attn_bias`` is added to ``scale * q @ k.T`` before the softmax.
* ``attn_bias``: None; ``LowerTriangularMask()`` (top-left causal); ``LowerTriangularFromBottomRightMask()``;
  ``LowerTriangularMaskWithTensorBias``; or a dense tensor broadcastable to (B, H, M_q, M_k) ((B, M_q, M_k) for
  3-D inputs, (B, G, H, M_q, M_k) for 5-D). A bias that is the same for every query row (a key bias, e.g. padding;
  size-1 and ``expand``ed stride-0 axes count as constant) runs on the NKI kernel; a bias that varies per query
  row, or that requires grad, is computed with plain PyTorch ops (exact, fp32 softmax, gradients for the bias
  too) because the kernel only takes a per-key bias.
* ``op`` selects an xformers implementation and is ignored (one implementation here).

Raise :class:`~porter.kernels.compat.UnsupportedArgumentError` naming the argument: ``p > 0`` (dropout; pass
``p=self.p if self.training else 0.0``) and every other ``attn_bias`` type (block-diagonal, local, paged ...).
Masked scores use porter's finite -30000 on the kernel path, so fully masked rows give a defined (meaningless)
value instead of NaN; rows with no key under ``LowerTriangularFromBottomRightMask`` return zeros.
"""

from __future__ import annotations

import math

import torch

from .....attention import NEG_INF, attention
from ...._attention import attention_bhsd
from ...._util import unsupported
from . import attn_bias
from .attn_bias import (
    AttentionBias,
    BlockDiagonalMask,
    LowerTriangularFromBottomRightMask,
    LowerTriangularMask,
    LowerTriangularMaskWithTensorBias,
)

__all__ = [
    "AttentionBias",
    "BlockDiagonalMask",
    "LowerTriangularFromBottomRightMask",
    "LowerTriangularMask",
    "LowerTriangularMaskWithTensorBias",
    "attn_bias",
    "memory_efficient_attention",
]

_API = "xformers.ops.memory_efficient_attention"


def _to_bmhk(query, key, value, bias):
    """Normalise to 4-D (B, M, H, K) tensors and a (.., H, M_q, M_k) bias; return an inverse for the output."""
    if not (query.dim() == key.dim() == value.dim()):
        raise ValueError(f"{_API}: query, key and value must have the same number of dimensions, got "
                         f"{query.dim()}, {key.dim()}, {value.dim()}")
    if query.dim() == 4:
        return query, key, value, bias, lambda out: out
    if query.dim() == 3:
        if isinstance(bias, torch.Tensor) and bias.dim() == 3:
            bias = bias.unsqueeze(1)
        return query.unsqueeze(2), key.unsqueeze(2), value.unsqueeze(2), bias, lambda out: out.squeeze(2)
    if query.dim() == 5:
        b, mq, g, h, kd = query.shape
        if isinstance(bias, torch.Tensor) and bias.dim() == 5:
            bias = bias.reshape(bias.shape[0], bias.shape[1] * bias.shape[2], bias.shape[3], bias.shape[4])
        merge = lambda t: t.reshape(t.shape[0], t.shape[1], t.shape[2] * t.shape[3], t.shape[4])  # noqa: E731
        return merge(query), merge(key), merge(value), bias, lambda out: out.reshape(b, mq, g, h, out.shape[-1])
    raise ValueError(f"{_API}: inputs must be (B, M, K), (B, M, H, K) or (B, M, G, H, K); got "
                     f"{tuple(query.shape)}")


def _bias_4d(bias: torch.Tensor, full: tuple[int, int, int, int]) -> torch.Tensor:
    if bias.dim() > 4:
        raise ValueError(f"{_API}: attn_bias of shape {tuple(bias.shape)} does not fit (B, H, M_q, M_k) = {full}")
    b4 = bias.reshape((1,) * (4 - bias.dim()) + tuple(bias.shape))
    try:
        fits = torch.broadcast_shapes(b4.shape, full) == torch.Size(full)
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"{_API}: attn_bias of shape {tuple(bias.shape)} is not broadcastable to "
                         f"(B, H, M_q, M_k) = {full}")
    return b4


def _dense_reference(q, k, v, bias4, scale, causal):
    """softmax(scale * q @ k.T + bias [+ top-left causal -inf]) @ v in fp32, over (B, H, M, K) tensors."""
    group = q.shape[1] // k.shape[1]
    kf = k.float().repeat_interleave(group, dim=1)
    vf = v.float().repeat_interleave(group, dim=1)
    scores = torch.matmul(q.float(), kf.transpose(-1, -2)) * scale + bias4.float()
    if causal:
        mq, mk = q.shape[2], k.shape[2]
        blocked = torch.ones(mq, mk, dtype=torch.bool, device=q.device).triu(diagonal=1)
        scores = scores.masked_fill(blocked, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), vf).to(q.dtype)


def _with_dense_bias(q, k, v, bias, scale, causal):
    """q (B, H, M_q, K), k/v (B, H_kv, M_k, K); dense bias (top-left causal mask on top when ``causal``)."""
    b, h, mq, _ = q.shape
    hk, mk = k.shape[1], k.shape[2]
    bias4 = _bias_4d(bias, (b, h, mq, mk))
    # an axis of size 1 or stride 0 (an ``expand``ed mask) carries one value along it
    same_for_queries = bias4.shape[2] == 1 or bias4.stride(2) == 0
    same_for_heads = bias4.shape[1] == 1 or bias4.stride(1) == 0
    if (torch.is_grad_enabled() and bias.requires_grad) or not same_for_queries:
        return _dense_reference(q, k, v, bias4, scale, causal)
    key_bias = bias4[:, :1 if same_for_heads else None, 0, :].float().clamp(min=NEG_INF)  # (B|1, H|1, M_k)
    if key_bias.shape[1] == 1:
        return attention(q, k, v, causal=causal, attention_mask=key_bias[:, 0, :].expand(b, mk), scale=scale)
    # a per-head key bias: fold heads into the batch (the kernel's mask is per batch row)
    group = h // hk
    qf = q.reshape(b * h, 1, mq, q.shape[3])
    kf = k.repeat_interleave(group, dim=1).reshape(b * h, 1, mk, k.shape[3])
    vf = v.repeat_interleave(group, dim=1).reshape(b * h, 1, mk, v.shape[3])
    out = attention(qf, kf, vf, causal=causal, attention_mask=key_bias.expand(b, h, mk).reshape(b * h, mk),
                    scale=scale)
    return out.reshape(b, h, mq, q.shape[3])


def memory_efficient_attention(query, key, value, attn_bias=None, p=0.0, scale=None, *, op=None,
                               output_dtype=None):
    """``xformers.ops.memory_efficient_attention`` (see the module docstring)."""
    if p is not None and float(p) != 0.0:
        raise unsupported(_API, "p", p, "attention dropout is not implemented by the NKI attention kernel; pass "
                                        "p=0.0 outside training")
    if attn_bias is not None and not isinstance(attn_bias, torch.Tensor | LowerTriangularMask
                                                  | LowerTriangularFromBottomRightMask):
        raise unsupported(_API, "attn_bias", type(attn_bias).__name__,
                          "supported: None, LowerTriangularMask, LowerTriangularFromBottomRightMask, "
                          "LowerTriangularMaskWithTensorBias, or a dense tensor")
    q4, k4, v4, bias, restore = _to_bmhk(query, key, value, attn_bias)
    if k4.shape != v4.shape:
        raise ValueError(f"{_API}: key and value shapes differ: {tuple(k4.shape)} vs {tuple(v4.shape)} "
                         "(porter's kernel needs value's head dim equal to key's)")
    if k4.shape[0] != q4.shape[0] or k4.shape[3] != q4.shape[3]:
        raise ValueError(f"{_API}: key {tuple(key.shape)} does not match query {tuple(query.shape)}")
    if k4.shape[2] == 0 or q4.shape[2] % k4.shape[2]:
        raise ValueError(f"{_API}: query heads ({q4.shape[2]}) must be a multiple of key/value heads "
                         f"({k4.shape[2]})")
    scale = 1.0 / math.sqrt(q4.shape[-1]) if scale is None else float(scale)
    q, k, v = (t.transpose(1, 2) for t in (q4, k4, v4))  # (B, H, M, K) for the kernel
    if bias is None:
        out = attention(q, k, v, causal=False, scale=scale)
    elif isinstance(bias, torch.Tensor):
        out = _with_dense_bias(q, k, v, bias, scale, causal=False)
    elif isinstance(bias, LowerTriangularMaskWithTensorBias):
        tensor = bias._bias
        if tensor.dim() == 5 and query.dim() == 5:
            tensor = tensor.reshape(tensor.shape[0], -1, tensor.shape[3], tensor.shape[4])
        elif tensor.dim() == 3 and query.dim() == 3:
            tensor = tensor.unsqueeze(1)
        out = _with_dense_bias(q, k, v, tensor, scale, causal=True)
    elif isinstance(bias, LowerTriangularFromBottomRightMask):
        out = attention_bhsd(q, k, v, scale=scale, causal=True, bottom_right=True)
    else:  # LowerTriangularMask
        out = attention(q, k, v, causal=True, scale=scale)
    out = restore(out.transpose(1, 2).contiguous())
    return out if output_dtype is None else out.to(output_dtype)
