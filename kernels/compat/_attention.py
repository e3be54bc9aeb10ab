"""Attention in the (batch, seqlen, heads, headdim) layouts of flash-attn and xformers, on porter's kernel.

``porter.kernels.attention`` takes (B, H, S, D) tensors, grouped-query heads (query head h reads kv head
h // (Hq / Hkv), the flash-attn / xformers convention), a top-left aligned causal mask and a (B, Sk) key padding
mask or additive key bias. Everything here reduces the originals' semantics to that exactly:

* bottom-right aligned causal masks (flash-attn's ``causal=True`` when seqlen_q != seqlen_k): with Sq < Sk the
  queries are front-padded with Sk - Sq dummy rows so that top-left alignment of the padded block equals
  bottom-right alignment of the real rows (extra work Sk/Sq; a single query row is unmasked, no padding needed);
  with Sq > Sk the first Sq - Sk query rows see no key and are zero (flash-attn's documented result);
* variable-length packed batches (``cu_seqlens``): scattered into a padded (B, max_seqlen, H, D) block with a key
  padding mask, each query placed so that the top-left causal mask reproduces its own sequence's bottom-right
  alignment; rows that see no key are zero.
"""

from __future__ import annotations

import torch

from ..attention import attention


def check_bshd(api: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"{api}: q, k, v must be (batch, seqlen, nheads, headdim); got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape != v.shape:
        raise ValueError(f"{api}: k and v shapes differ: {tuple(k.shape)} vs {tuple(v.shape)}")
    if k.shape[0] != q.shape[0] or k.shape[3] != q.shape[3]:
        raise ValueError(f"{api}: k/v {tuple(k.shape)} do not match q {tuple(q.shape)} in batch or head dim")
    if k.shape[2] == 0 or q.shape[2] % k.shape[2]:
        raise ValueError(f"{api}: the number of query heads ({q.shape[2]}) must be a multiple of the number of "
                         f"key/value heads ({k.shape[2]})")


def _bhsd(t: torch.Tensor) -> torch.Tensor:
    return t.transpose(1, 2)


def attention_bhsd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float, causal: bool,
                   bottom_right: bool, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, S, D) attention with either causal alignment. Returns (B, Hq, Sq, D)."""
    sq, sk = q.shape[2], k.shape[2]
    if not causal or not bottom_right or sq == sk:
        return attention(q, k, v, causal=causal, attention_mask=attention_mask, scale=scale)
    if sq < sk:
        if sq == 1:  # the single query row is the last one: it sees every key
            return attention(q, k, v, causal=False, attention_mask=attention_mask, scale=scale)
        pad = q.new_zeros(q.shape[0], q.shape[1], sk - sq, q.shape[3])
        out = attention(torch.cat((pad, q), dim=2), k, v, causal=True, attention_mask=attention_mask, scale=scale)
        return out[:, :, sk - sq:]
    dead = sq - sk  # query rows before the first key: nothing to attend to, flash-attn returns zeros
    if sk == 0:
        return q.new_zeros(q.shape)
    tail = attention(q[:, :, dead:], k, v, causal=True, attention_mask=attention_mask, scale=scale)
    return torch.cat((tail.new_zeros(q.shape[0], q.shape[1], dead, q.shape[3]), tail), dim=2)


def attention_bshd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float, causal: bool,
                   bottom_right: bool, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, S, H, D) in and out (contiguous, like the CUDA kernels' outputs)."""
    out = attention_bhsd(_bhsd(q), _bhsd(k), _bhsd(v), scale=scale, causal=causal, bottom_right=bottom_right,
                         attention_mask=attention_mask)
    return _bhsd(out).contiguous()


def _lengths(cu: torch.Tensor, name: str) -> list[int]:
    if cu.dim() != 1 or cu.numel() < 1:
        raise ValueError(f"{name} must be a 1-D (batch_size + 1,) tensor, got shape {tuple(cu.shape)}")
    if cu.dtype.is_floating_point:
        raise ValueError(f"{name} must be an integer tensor, got {cu.dtype}")
    values = [int(c) for c in cu.tolist()]
    lengths = [b - a for a, b in zip(values, values[1:], strict=False)]
    if any(n < 0 for n in lengths) or (values and values[0] < 0):
        raise ValueError(f"{name} must be non-decreasing and non-negative, got {values}")
    return lengths


def _scatter_index(cu: torch.Tensor, total: int, rows: int, offsets: torch.Tensor | None, device):
    """For each packed token position p < total: (destination row in a (B * rows) padded block, valid)."""
    cu = cu.to(device=device, dtype=torch.long)
    batch = cu.numel() - 1
    pos = torch.arange(total, device=device)
    seq = torch.searchsorted(cu[1:].contiguous(), pos, right=True)
    inside = (pos >= cu[0]) & (seq < batch)
    seq = seq.clamp(max=max(batch - 1, 0))
    local = pos - cu[seq]
    if offsets is not None:
        local = local + offsets[seq]
    valid = inside & (local >= 0) & (local < rows)
    dest = seq * rows + local.clamp(0, max(rows - 1, 0))
    return dest, valid, seq


def attention_varlen(api: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor,
                     cu_seqlens_k: torch.Tensor, max_seqlen_q: int, max_seqlen_k: int, *, scale: float,
                     causal: bool) -> torch.Tensor:
    """flash-attn's varlen attention: q (total_q, Hq, D), k/v (total_k, Hkv, D) packed by cu_seqlens; causal is
    bottom-right aligned per sequence. Returns (total_q, Hq, D); tokens outside the packed sequences are zero."""
    if q.dim() != 3 or k.dim() != 3 or v.dim() != 3:
        raise ValueError(f"{api}: q, k, v must be (total, nheads, headdim); got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape != v.shape or k.shape[2] != q.shape[2]:
        raise ValueError(f"{api}: k/v {tuple(k.shape)}/{tuple(v.shape)} do not match q {tuple(q.shape)}")
    if k.shape[1] == 0 or q.shape[1] % k.shape[1]:
        raise ValueError(f"{api}: the number of query heads ({q.shape[1]}) must be a multiple of the number of "
                         f"key/value heads ({k.shape[1]})")
    lens_q = _lengths(cu_seqlens_q, "cu_seqlens_q")
    lens_k = _lengths(cu_seqlens_k, "cu_seqlens_k")
    if len(lens_q) != len(lens_k):
        raise ValueError(f"{api}: cu_seqlens_q and cu_seqlens_k describe different batch sizes "
                         f"({len(lens_q)} vs {len(lens_k)})")
    if cu_seqlens_q.numel() and int(cu_seqlens_q[-1]) > q.shape[0]:
        raise ValueError(f"{api}: cu_seqlens_q ends at {int(cu_seqlens_q[-1])} > total_q = {q.shape[0]}")
    if cu_seqlens_k.numel() and int(cu_seqlens_k[-1]) > k.shape[0]:
        raise ValueError(f"{api}: cu_seqlens_k ends at {int(cu_seqlens_k[-1])} > total_k = {k.shape[0]}")
    if lens_q and max(lens_q) > max_seqlen_q:
        raise ValueError(f"{api}: max_seqlen_q={max_seqlen_q} is smaller than the longest query sequence "
                         f"({max(lens_q)})")
    if lens_k and max(lens_k) > max_seqlen_k:
        raise ValueError(f"{api}: max_seqlen_k={max_seqlen_k} is smaller than the longest key sequence "
                         f"({max(lens_k)})")
    batch = len(lens_q)
    hq, hk, d = q.shape[1], k.shape[1], q.shape[2]
    if batch == 0 or q.shape[0] == 0:
        return q.new_zeros(q.shape)
    if causal and max(lens_q) <= 1:
        causal = False  # a sequence's single query row is its last one and sees all of its keys
    device = q.device
    len_q_t = torch.tensor(lens_q, device=device, dtype=torch.long)
    len_k_t = torch.tensor(lens_k, device=device, dtype=torch.long)
    rows_k = max(max_seqlen_k, 1)
    if causal:
        # query i of sequence b goes to padded row i + len_k[b] - len_q[b]: the top-left causal mask then lets it
        # see keys j <= i + len_k[b] - len_q[b] (bottom-right alignment); the key padding mask cuts j >= len_k[b].
        rows_q = rows_k
        offsets = len_k_t - len_q_t
    else:
        rows_q = max(max_seqlen_q, 1)
        offsets = None
    dest_q, valid_q, seq_q = _scatter_index(cu_seqlens_q, q.shape[0], rows_q, offsets, device)
    valid_q = valid_q & (len_k_t[seq_q] > 0)
    dest_k, valid_k, _ = _scatter_index(cu_seqlens_k, k.shape[0], rows_k, None, device)

    q_pad = q.new_zeros(batch * rows_q, hq, d).index_put((dest_q[valid_q],), q[valid_q])
    k_pad = k.new_zeros(batch * rows_k, hk, d).index_put((dest_k[valid_k],), k[valid_k])
    v_pad = v.new_zeros(batch * rows_k, hk, d).index_put((dest_k[valid_k],), v[valid_k])
    key_mask = torch.arange(rows_k, device=device)[None, :] < len_k_t[:, None]
    out = attention(q_pad.view(batch, rows_q, hq, d).transpose(1, 2),
                    k_pad.view(batch, rows_k, hk, d).transpose(1, 2),
                    v_pad.view(batch, rows_k, hk, d).transpose(1, 2),
                    causal=causal, attention_mask=key_mask, scale=scale)
    out = out.transpose(1, 2).reshape(batch * rows_q, hq, d)[dest_q]
    return torch.where(valid_q[:, None, None], out, out.new_zeros(()))
