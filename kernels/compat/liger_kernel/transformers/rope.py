"""Shim for ``liger_kernel.transformers.rope.liger_rotary_pos_emb`` on ``porter.kernels.apply_rotary``.

``liger_rotary_pos_emb(q, k, cos, sin, position_ids=None, unsqueeze_dim=1) -> (q_embed, k_embed)`` follows the
Hugging Face ``apply_rotary_pos_emb`` contract it replaces (half rotation, ``rotate_half``):

* q (batch, n_q_heads, seq, head_dim), k (batch, n_kv_heads, seq, head_dim) with ``unsqueeze_dim=1``, or the
  (batch, seq, heads, head_dim) layout with ``unsqueeze_dim=2``;
* cos / sin full width (batch or 1, seq, head_dim) or (seq, head_dim), built as ``cat((freqs, freqs), -1)``: each
  angle appears twice and porter's kernel reads one copy (tables whose halves differ raise ValueError);
* ``position_ids`` is ignored when cos/sin are already per position (batch, seq, head_dim) (current Hugging Face
  and Liger); with a 2-D (max_positions, head_dim) table it selects the rows (older Hugging Face convention);
* per-batch tables (batch > 1) run one kernel call per batch row; results in q's / k's dtype, math in fp32.

Other ``unsqueeze_dim`` values raise :class:`~porter.kernels.compat.UnsupportedArgumentError`.
"""

from __future__ import annotations

import torch

from ....rotary import apply_rotary
from ..._util import check_duplicated_halves, unsupported

__all__ = ["liger_rotary_pos_emb"]

_API = "liger_rotary_pos_emb"


def _tables(cos: torch.Tensor, position_ids):
    if cos.dim() == 2:
        if position_ids is not None:
            return cos[position_ids]  # (batch, seq, head_dim)
        return cos.unsqueeze(0)
    if cos.dim() == 4 and cos.shape[1] == 1:  # already unsqueezed (batch, 1, seq, head_dim)
        cos = cos[:, 0]
    if cos.dim() != 3:
        raise ValueError(f"{_API}: cos/sin must be (batch or 1, seq, head_dim) or (seq, head_dim), got "
                         f"{tuple(cos.shape)}")
    return cos


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (batch, heads, seq, head_dim); cos/sin (batch or 1, seq, head_dim)."""
    if cos.shape[0] == 1:
        return apply_rotary(x, cos[0], sin[0])
    if cos.shape[0] != x.shape[0]:
        raise ValueError(f"{_API}: cos/sin batch ({cos.shape[0]}) does not match q/k batch ({x.shape[0]})")
    return torch.cat([apply_rotary(x[b: b + 1], cos[b], sin[b]) for b in range(x.shape[0])], dim=0)


def liger_rotary_pos_emb(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
    """``liger_kernel.transformers.liger_rotary_pos_emb`` (see the module docstring)."""
    if unsqueeze_dim not in (1, 2):
        raise unsupported(_API, "unsqueeze_dim", unsqueeze_dim,
                          "only the (batch, heads, seq, dim) [1] and (batch, seq, heads, dim) [2] layouts")
    cos_t, sin_t = _tables(cos, position_ids), _tables(sin, position_ids)
    check_duplicated_halves(cos_t, False, _API)
    check_duplicated_halves(sin_t, False, _API)
    if unsqueeze_dim == 2:
        q_out = _rotate(q.transpose(1, 2), cos_t, sin_t).transpose(1, 2)
        k_out = _rotate(k.transpose(1, 2), cos_t, sin_t).transpose(1, 2)
        return q_out.contiguous(), k_out.contiguous()
    return _rotate(q, cos_t, sin_t), _rotate(k, cos_t, sin_t)
