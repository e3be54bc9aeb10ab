"""Shim for ``flash_attn.flash_attn_interface`` (flash-attention 2.x) on ``porter.kernels.attention``.

Mirrors flash-attn's documented semantics:

* q (batch, seqlen_q, nheads, headdim), k/v (batch, seqlen_k, nheads_k, headdim); packed forms qkv
  (batch, seqlen, 3, nheads, headdim) and kv (batch, seqlen_k, 2, nheads_k, headdim); varlen forms
  (total, nheads, headdim) with ``cu_seqlens`` (batch + 1,) int32 offsets. Output in q's layout and dtype.
* MQA / GQA: nheads must be a multiple of nheads_k; query head h reads kv head h // (nheads / nheads_k).
* ``softmax_scale`` defaults to 1 / sqrt(headdim).
* ``causal=True`` aligns the mask to the bottom-right corner (query i sees keys j <= i + seqlen_k - seqlen_q);
  query rows that see no key return zeros.
* varlen: each sequence attends only within itself; ``max_seqlen_q`` / ``max_seqlen_k`` size the padded block
  the sequences are scattered into and must be at least the longest sequence (ValueError otherwise).

Raise :class:`~porter.kernels.compat.UnsupportedArgumentError` (a ValueError) naming the argument, instead of
approximating: ``dropout_p > 0`` (pass ``dropout_p=self.p if self.training else 0.0``; evaluation with 0.0 is
exact), ``window_size`` other than (-1, -1), ``softcap`` > 0, ``alibi_slopes``, ``return_attn_probs=True``,
``block_table``. ``deterministic`` is accepted and has no effect (the backward is deterministic).
"""

from __future__ import annotations

import math

from .._attention import attention_bshd, attention_varlen, check_bshd
from .._util import as_int, unsupported

__all__ = [
    "flash_attn_func",
    "flash_attn_kvpacked_func",
    "flash_attn_qkvpacked_func",
    "flash_attn_varlen_func",
    "flash_attn_varlen_kvpacked_func",
    "flash_attn_varlen_qkvpacked_func",
]


def _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs, block_table=None):
    if dropout_p is not None and float(dropout_p) != 0.0:
        raise unsupported(api, "dropout_p", dropout_p,
                          "attention dropout is not implemented by the NKI attention kernel; pass dropout_p=0.0 "
                          "outside training (e.g. `self.dropout_p if self.training else 0.0`)")
    if window_size is not None and tuple(int(w) for w in window_size) != (-1, -1):
        raise unsupported(api, "window_size", tuple(window_size), "sliding-window (local) attention")
    if softcap is not None and float(softcap) > 0.0:
        raise unsupported(api, "softcap", softcap, "tanh soft-capping of the scores")
    if alibi_slopes is not None:
        raise unsupported(api, "alibi_slopes", "<tensor>", "ALiBi position bias")
    if return_attn_probs:
        raise unsupported(api, "return_attn_probs", return_attn_probs,
                          "the kernel returns no softmax statistics or probabilities")
    if block_table is not None:
        raise unsupported(api, "block_table", "<tensor>", "paged KV cache")


def _scale(softmax_scale, headdim: int) -> float:
    return 1.0 / math.sqrt(headdim) if softmax_scale is None else float(softmax_scale)


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """``flash_attn.flash_attn_func``: q (B, Sq, H, D), k/v (B, Sk, Hk, D) -> (B, Sq, H, D)."""
    api = "flash_attn_func"
    _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs)
    check_bshd(api, q, k, v)
    return attention_bshd(q, k, v, scale=_scale(softmax_scale, q.shape[-1]), causal=bool(causal),
                          bottom_right=True)


def flash_attn_qkvpacked_func(qkv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                              softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """``flash_attn.flash_attn_qkvpacked_func``: qkv (B, S, 3, H, D) -> (B, S, H, D)."""
    api = "flash_attn_qkvpacked_func"
    _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs)
    if qkv.dim() != 5 or qkv.shape[2] != 3:
        raise ValueError(f"{api}: qkv must be (batch, seqlen, 3, nheads, headdim), got {tuple(qkv.shape)}")
    q, k, v = qkv.unbind(dim=2)
    return attention_bshd(q, k, v, scale=_scale(softmax_scale, qkv.shape[-1]), causal=bool(causal),
                          bottom_right=True)


def flash_attn_kvpacked_func(q, kv, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                             softcap=0.0, alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """``flash_attn.flash_attn_kvpacked_func``: q (B, Sq, H, D), kv (B, Sk, 2, Hk, D) -> (B, Sq, H, D)."""
    api = "flash_attn_kvpacked_func"
    _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs)
    if kv.dim() != 5 or kv.shape[2] != 2:
        raise ValueError(f"{api}: kv must be (batch, seqlen_k, 2, nheads_k, headdim), got {tuple(kv.shape)}")
    k, v = kv.unbind(dim=2)
    check_bshd(api, q, k, v)
    return attention_bshd(q, k, v, scale=_scale(softmax_scale, q.shape[-1]), causal=bool(causal),
                          bottom_right=True)


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                           softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                           deterministic=False, return_attn_probs=False, block_table=None):
    """``flash_attn.flash_attn_varlen_func``: q (total_q, H, D), k/v (total_k, Hk, D) -> (total_q, H, D).

    The packed sequences are scattered into a (batch, max_seqlen, H, D) block with a key padding mask (exact:
    padded keys get zero weight); causal masking stays bottom-right aligned per sequence.
    """
    api = "flash_attn_varlen_func"
    _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs, block_table)
    return attention_varlen(api, q, k, v, cu_seqlens_q, cu_seqlens_k, as_int(max_seqlen_q, "max_seqlen_q"),
                            as_int(max_seqlen_k, "max_seqlen_k"), scale=_scale(softmax_scale, q.shape[-1]),
                            causal=bool(causal))


def flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p=0.0, softmax_scale=None, causal=False,
                                     window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=False,
                                     return_attn_probs=False):
    """``flash_attn.flash_attn_varlen_qkvpacked_func``: qkv (total, 3, H, D) -> (total, H, D)."""
    api = "flash_attn_varlen_qkvpacked_func"
    _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs)
    if qkv.dim() != 4 or qkv.shape[1] != 3:
        raise ValueError(f"{api}: qkv must be (total, 3, nheads, headdim), got {tuple(qkv.shape)}")
    q, k, v = qkv.unbind(dim=1)
    max_seqlen = as_int(max_seqlen, "max_seqlen")
    return attention_varlen(api, q, k, v, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen,
                            scale=_scale(softmax_scale, qkv.shape[-1]), causal=bool(causal))


def flash_attn_varlen_kvpacked_func(q, kv, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                                    softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                                    alibi_slopes=None, deterministic=False, return_attn_probs=False):
    """``flash_attn.flash_attn_varlen_kvpacked_func``: q (total_q, H, D), kv (total_k, 2, Hk, D)."""
    api = "flash_attn_varlen_kvpacked_func"
    _check_options(api, dropout_p, window_size, softcap, alibi_slopes, return_attn_probs)
    if kv.dim() != 4 or kv.shape[1] != 2:
        raise ValueError(f"{api}: kv must be (total_k, 2, nheads_k, headdim), got {tuple(kv.shape)}")
    k, v = kv.unbind(dim=1)
    return attention_varlen(api, q, k, v, cu_seqlens_q, cu_seqlens_k, as_int(max_seqlen_q, "max_seqlen_q"),
                            as_int(max_seqlen_k, "max_seqlen_k"), scale=_scale(softmax_scale, q.shape[-1]),
                            causal=bool(causal))
