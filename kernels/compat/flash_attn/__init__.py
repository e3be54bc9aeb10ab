"""Shim for ``flash_attn`` (flash-attention 2.x): the package's top-level attention functions on porter's
flash-style NKI attention kernel.

Layout note: flash-attn tensors are (batch, seqlen, nheads, headdim) (varlen: (total, nheads, headdim));
porter's kernel takes (batch, nheads, seqlen, headdim). The shims transpose on the way in and out and return
contiguous tensors in flash-attn's layout. See ``flash_attn_interface`` for what is supported.
"""

from __future__ import annotations

from .flash_attn_interface import (
    flash_attn_func,
    flash_attn_kvpacked_func,
    flash_attn_qkvpacked_func,
    flash_attn_varlen_func,
    flash_attn_varlen_kvpacked_func,
    flash_attn_varlen_qkvpacked_func,
)

__version__ = "2.8.3+porter"  # the flash-attn release whose API the shim mirrors, for version gates

__all__ = [
    "flash_attn_func",
    "flash_attn_kvpacked_func",
    "flash_attn_qkvpacked_func",
    "flash_attn_varlen_func",
    "flash_attn_varlen_kvpacked_func",
    "flash_attn_varlen_qkvpacked_func",
]
