"""A drop-in for ``torch.nn.functional.scaled_dot_product_attention`` that runs porter's NKI attention.

Same signature and layout as SDPA: query (B, Hq, L, E), key/value (B, Hkv, S, E). porter's kernel
covers the common case exactly: no ``attn_mask``, no dropout, optional ``is_causal`` (top-left
aligned, as SDPA), optional ``scale``, and grouped-query heads with ``enable_gqa``. Any other
combination (an explicit mask, dropout, a value head dim different from the query's) calls SDPA
itself, so results never change silently; ``porter port --swap-sdpa`` (rule NRN416) writes calls to
this function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attention import attention


def kernel_applies(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask, dropout_p: float,
                   enable_gqa: bool) -> bool:
    """Can porter's attention kernel compute exactly what SDPA would for these arguments?"""
    if attn_mask is not None or dropout_p != 0.0:
        return False
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        return False
    if value.shape[-1] != query.shape[-1] or key.shape[-1] != query.shape[-1]:
        return False
    hq, hkv = query.shape[1], key.shape[1]
    if hq != hkv and not (enable_gqa and hq % hkv == 0):
        return False
    return key.shape[:3] == value.shape[:3]


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> torch.Tensor:
    if kernel_applies(query, key, value, attn_mask, dropout_p, enable_gqa):
        return attention(query, key, value, causal=is_causal, scale=scale)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                                          is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
