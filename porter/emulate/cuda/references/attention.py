"""flash_attn and xformers attention, from their documented semantics.

flash-attn 2 (README, "How to use FlashAttention"): fp16 or bf16 only; q (batch, seqlen_q, nheads, headdim), k and v
(batch, seqlen_k, nheads_k, headdim) with nheads divisible by nheads_k (MQA/GQA); softmax_scale
defaults to 1/sqrt(headdim); causal masks are aligned to the bottom-right corner of the attention
matrix when seqlen_q != seqlen_k; window_size=(left, right) keeps keys j with
i + seqlen_k - seqlen_q - left <= j <= i + seqlen_k - seqlen_q + right (-1: unbounded); softcap
applies softcap * tanh(scores / softcap) before the softmax; alibi_slopes (nheads,) or (batch,
nheads) add -slope * |i + seqlen_k - seqlen_q - j|.
xformers (xformers.ops.memory_efficient_attention): query (B, M, H, K), key (B, N, H, K), value
(B, N, H, Kv); attn_bias None, a tensor added to the scores, or LowerTriangularMask (keys after the
query position masked); p is the dropout probability; scale defaults to 1/sqrt(K).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _attend(q, k, v, scale, bias=None, mask=None, dropout_p=0.0, softcap=0.0):
    """q (B, H, M, D), k/v (B, H, N, D) -> (out (B, H, M, Dv), lse (B, H, M), probs), computed in fp32."""
    scores = torch.einsum("bhmd,bhnd->bhmn", q.float(), k.float()) * scale
    if softcap:
        scores = softcap * torch.tanh(scores / softcap)
    if bias is not None:
        scores = scores + bias.float()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a row with every key masked attends to nothing
    if dropout_p:
        probs = F.dropout(probs, dropout_p)
    out = torch.einsum("bhmn,bhnd->bhmd", probs, v.float())
    return out, lse, probs


def _repeat_kv(x, n_rep: int):
    return x if n_rep == 1 else x.repeat_interleave(n_rep, dim=1)


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    if q.dtype not in (torch.float16, torch.bfloat16):
        raise RuntimeError("FlashAttention only support fp16 and bf16 data type")  # as the library refuses
    batch, seqlen_q, nheads, headdim = q.shape
    seqlen_k, nheads_k = k.shape[1], k.shape[2]
    if nheads % nheads_k:
        raise RuntimeError("Number of heads in key/value must divide number of heads in query")
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(headdim)
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))
    kh, vh = _repeat_kv(kh, nheads // nheads_k), _repeat_kv(vh, nheads // nheads_k)
    i = torch.arange(seqlen_q, device=q.device)[:, None] + (seqlen_k - seqlen_q)
    j = torch.arange(seqlen_k, device=q.device)[None, :]
    left, right = window_size
    if causal:
        right = 0
    mask = torch.ones(seqlen_q, seqlen_k, dtype=torch.bool, device=q.device)
    if left >= 0:
        mask &= j >= i - left
    if right >= 0:
        mask &= j <= i + right
    bias = None
    if alibi_slopes is not None:
        slopes = alibi_slopes.float().reshape(-1 if alibi_slopes.dim() == 1 else batch, nheads)
        slopes = slopes[None] if alibi_slopes.dim() == 1 else slopes
        bias = -slopes[..., None, None] * (i - j).abs().float()
    out, lse, probs = _attend(qh, kh, vh, scale, bias=bias, mask=mask, dropout_p=dropout_p, softcap=softcap)
    out = out.transpose(1, 2).to(q.dtype)
    return (out, lse, probs) if return_attn_probs else out


def flash_attn_qkvpacked_func(qkv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                              softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
    q, k, v = qkv.unbind(dim=2)
    return flash_attn_func(q, k, v, dropout_p, softmax_scale, causal, window_size, softcap, alibi_slopes,
                           deterministic, return_attn_probs)


def flash_attn_kvpacked_func(q, kv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                             softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
    k, v = kv.unbind(dim=2)
    return flash_attn_func(q, k, v, dropout_p, softmax_scale, causal, window_size, softcap, alibi_slopes,
                           deterministic, return_attn_probs)


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                           softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                           deterministic=False, return_attn_probs=False, block_table=None):
    """q (total_q, nheads, headdim); sequence b is rows cu_seqlens_q[b]:cu_seqlens_q[b+1]."""
    if block_table is not None:
        raise NotImplementedError("porter's flash_attn reference has no paged KV cache (block_table)")
    outs = []
    cq, ck = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    for b in range(len(cq) - 1):
        slopes = None if alibi_slopes is None else (alibi_slopes if alibi_slopes.dim() == 1 else alibi_slopes[b])
        outs.append(flash_attn_func(q[None, cq[b]:cq[b + 1]], k[None, ck[b]:ck[b + 1]], v[None, ck[b]:ck[b + 1]],
                                    dropout_p, softmax_scale, causal, window_size, softcap, slopes)[0])
    return torch.cat(outs, dim=0)


def flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p=0.0, softmax_scale=None, causal=False,
                                     **kwargs):
    q, k, v = qkv.unbind(dim=1)
    return flash_attn_varlen_func(q, k, v, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen, dropout_p,
                                  softmax_scale, causal, **kwargs)


class LowerTriangularMask:
    """xformers' causal mask: query i sees keys j <= i."""

    def materialize(self, shape, dtype=torch.float32, device="cpu"):
        m, n = shape[-2], shape[-1]
        full = torch.full((m, n), float("-inf"), dtype=dtype, device=device)
        return torch.triu(full, diagonal=1).expand(shape)


def memory_efficient_attention(query, key, value, attn_bias=None, p=0.0, scale=None, *, op=None, output_dtype=None):
    squeeze = query.dim() == 3  # (B, M, K): one head
    if squeeze:
        query, key, value = query[:, :, None], key[:, :, None], value[:, :, None]
    q, k, v = (t.transpose(1, 2) for t in (query, key, value))
    s = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
    mask = bias = None
    if isinstance(attn_bias, LowerTriangularMask):
        m, n = q.shape[2], k.shape[2]
        mask = torch.ones(m, n, dtype=torch.bool, device=query.device).tril()
    elif attn_bias is not None:
        bias = attn_bias
    out, _, _ = _attend(q, k, v, s, bias=bias, mask=mask, dropout_p=p)
    out = out.transpose(1, 2).to(output_dtype or query.dtype)
    return out[:, :, 0] if squeeze else out
