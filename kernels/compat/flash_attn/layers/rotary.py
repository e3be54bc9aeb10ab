"""Shim for ``flash_attn.layers.rotary`` (flash-attention 2.x) on ``porter.kernels.apply_rotary``.

Mirrors flash-attn's conventions:

* x is (batch, seqlen, nheads, headdim), or (total_seqlen, nheads, headdim) with ``cu_seqlens``;
* cos / sin are (seqlen_ro, rotary_dim / 2): one angle per rotated pair, rotary_dim <= headdim; only the first
  rotary_dim features are rotated (partial rotary), the rest pass through unchanged;
* half rotation pairs (x[i], x[i + rotary_dim/2]) (GPT-NeoX); ``interleaved=True`` pairs (x[2i], x[2i+1]) (GPT-J);
* ``seqlen_offsets`` (int, or (batch,) tensor) shifts the positions read from the tables; an int offset must
  keep offset + seqlen <= seqlen_ro; per-batch tensor offsets past the table leave those rows unrotated, as the
  CUDA kernel does;
* the computation is in fp32, the result in x's dtype.

Layout note: porter's kernel wants the sequence on axis -2, so x is viewed as (batch, nheads, seqlen, headdim)
for the call. Per-batch offsets and varlen batches run one kernel call per sequence.

In-place forms (``inplace=True``, ``apply_rotary_emb_qkv_``, ``apply_rotary_emb_kv_``, ``RotaryEmbedding``)
write the result into their input like flash-attn and return it; gradients flow as with flash-attn (the input
must not be a leaf that requires grad).
"""

from __future__ import annotations

import torch

from ....rotary import apply_rotary

__all__ = [
    "RotaryEmbedding",
    "apply_rotary_emb",
    "apply_rotary_emb_func",
    "apply_rotary_emb_kv_",
    "apply_rotary_emb_qkv_",
]

_API = "flash_attn.layers.rotary.apply_rotary_emb"


def _table_rows(table: torch.Tensor, start: int, n: int, fill: float) -> torch.Tensor:
    """Rows start .. start+n of a (seqlen_ro, r) table; rows past its end are ``fill``."""
    have = max(0, min(n, table.shape[0] - start))
    rows = table[start: start + have]
    if have < n:
        rows = torch.cat((rows, table.new_full((n - have, table.shape[1]), fill)), dim=0)
    return rows


def _rotate_bshd(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """x (b, s, h, d) with tables (s, rotary_dim / 2) already sliced to the positions of x's rows."""
    rotary_dim = 2 * cos.shape[-1]
    x_rot = x[..., :rotary_dim].transpose(1, 2)  # (b, h, s, rotary_dim): sequence on axis -2 for the kernel
    out = apply_rotary(x_rot, cos, sin, interleaved=interleaved).transpose(1, 2)
    if rotary_dim < x.shape[-1]:
        out = torch.cat((out, x[..., rotary_dim:]), dim=-1)
    return out.contiguous()


def _check_tables(cos, sin, headdim):
    if cos.dim() != 2 or cos.shape != sin.shape:
        raise ValueError(f"{_API}: cos and sin must both be (seqlen_ro, rotary_dim / 2), got "
                         f"{tuple(cos.shape)} and {tuple(sin.shape)}")
    if 2 * cos.shape[-1] > headdim:
        raise ValueError(f"{_API}: rotary_dim ({2 * cos.shape[-1]}) must be <= headdim ({headdim})")


def _offsets_list(seqlen_offsets, batch: int):
    if isinstance(seqlen_offsets, torch.Tensor):
        if seqlen_offsets.shape != (batch,):
            raise ValueError(f"{_API}: seqlen_offsets must be an int or a (batch,) tensor, got shape "
                             f"{tuple(seqlen_offsets.shape)} for batch {batch}")
        if seqlen_offsets.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"{_API}: seqlen_offsets must be int32 or int64, got {seqlen_offsets.dtype}")
        return [int(o) for o in seqlen_offsets.tolist()]
    return None


def _apply(x, cos, sin, interleaved, seqlen_offsets, cu_seqlens, max_seqlen):
    headdim = x.shape[-1]
    _check_tables(cos, sin, headdim)
    seqlen_ro = cos.shape[0]
    if cu_seqlens is None:
        if x.dim() != 4:
            raise ValueError(f"{_API}: x must be (batch, seqlen, nheads, headdim), got {tuple(x.shape)}")
        batch, seqlen = x.shape[0], x.shape[1]
        if seqlen_ro < seqlen:
            raise ValueError(f"{_API}: the cos/sin tables ({seqlen_ro} rows) must cover seqlen ({seqlen})")
        offsets = _offsets_list(seqlen_offsets, batch)
        if offsets is None:
            offset = int(seqlen_offsets)
            if offset < 0 or offset + seqlen > seqlen_ro:
                raise ValueError(f"{_API}: seqlen_offsets ({offset}) + seqlen ({seqlen}) exceeds the cos/sin "
                                 f"tables ({seqlen_ro} rows)")
            return _rotate_bshd(x, cos[offset: offset + seqlen], sin[offset: offset + seqlen], interleaved)
        outs = [_rotate_bshd(x[b: b + 1], _table_rows(cos, o, seqlen, 1.0), _table_rows(sin, o, seqlen, 0.0),
                             interleaved) for b, o in enumerate(offsets)]
        return torch.cat(outs, dim=0)
    # varlen: x (total_seqlen, nheads, headdim)
    if x.dim() != 3:
        raise ValueError(f"{_API}: with cu_seqlens, x must be (total_seqlen, nheads, headdim), got "
                         f"{tuple(x.shape)}")
    bounds = [int(c) for c in cu_seqlens.tolist()]
    batch = len(bounds) - 1
    offsets = _offsets_list(seqlen_offsets, batch)
    if offsets is None:
        offsets = [int(seqlen_offsets)] * batch
    lengths = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    if max_seqlen is not None and lengths and max(lengths) > int(max_seqlen):
        raise ValueError(f"{_API}: max_seqlen={int(max_seqlen)} is smaller than the longest sequence "
                         f"({max(lengths)})")
    pieces = [x[: bounds[0]]] if bounds and bounds[0] > 0 else []
    for b in range(batch):
        seq = x[bounds[b]: bounds[b + 1]]
        n = seq.shape[0]
        if n:
            seq = _rotate_bshd(seq.unsqueeze(0), _table_rows(cos, offsets[b], n, 1.0),
                               _table_rows(sin, offsets[b], n, 0.0), interleaved)[0]
        pieces.append(seq)
    if bounds and bounds[-1] < x.shape[0]:
        pieces.append(x[bounds[-1]:])
    return torch.cat(pieces, dim=0) if pieces else x.clone()


def _write_back(target: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    target.copy_(value)
    return target


def _source(x: torch.Tensor) -> torch.Tensor:
    """What to rotate when the result is written back into x: a copy while autograd records (the kernel path
    keeps its inputs for the backward, so they must not be overwritten)."""
    return x.clone() if torch.is_grad_enabled() and x.requires_grad else x


def apply_rotary_emb(x, cos, sin, interleaved=False, inplace=False, seqlen_offsets=0, cu_seqlens=None,
                     max_seqlen=None):
    """``flash_attn.layers.rotary.apply_rotary_emb`` (see the module docstring)."""
    if inplace:
        return _write_back(x, _apply(_source(x), cos, sin, interleaved, seqlen_offsets, cu_seqlens, max_seqlen))
    return _apply(x, cos, sin, interleaved, seqlen_offsets, cu_seqlens, max_seqlen)


# flash-attn keeps this alias for backward compatibility
apply_rotary_emb_func = apply_rotary_emb


def _split_qkv(qkv, num_heads_q):
    if qkv.dim() == 5:
        if qkv.shape[2] != 3:
            raise ValueError(f"apply_rotary_emb_qkv_: qkv must be (batch, seqlen, 3, nheads, headdim), got "
                             f"{tuple(qkv.shape)}")
        return qkv[:, :, 0], qkv[:, :, 1]
    if qkv.dim() != 4 or num_heads_q is None:
        raise ValueError("apply_rotary_emb_qkv_: qkv must be (batch, seqlen, 3, nheads, headdim), or "
                         "(batch, seqlen, num_heads_q + 2 * num_heads_k, headdim) with num_heads_q given")
    num_heads_k = (qkv.shape[2] - num_heads_q) // 2
    if qkv.shape[2] != num_heads_q + 2 * num_heads_k:
        raise ValueError(f"apply_rotary_emb_qkv_: {qkv.shape[2]} heads is not num_heads_q ({num_heads_q}) + "
                         "2 * num_heads_k")
    return qkv[:, :, :num_heads_q], qkv[:, :, num_heads_q: num_heads_q + num_heads_k]


def apply_rotary_emb_qkv_(qkv, cos, sin, cos_k=None, sin_k=None, interleaved=False, seqlen_offsets=0,
                          num_heads_q=None):
    """``flash_attn.layers.rotary.apply_rotary_emb_qkv_``: rotates Q and K of a packed qkv in place.

    qkv (batch, seqlen, 3, nheads, headdim), or (batch, seqlen, num_heads_q + 2 * num_heads_k, headdim) with
    ``num_heads_q``; ``cos_k`` / ``sin_k`` (default: cos / sin) are K's tables.
    """
    cos_k = cos if cos_k is None else cos_k
    sin_k = sin if sin_k is None else sin_k
    q, k = _split_qkv(qkv, num_heads_q)
    q_rot = _apply(_source(q), cos, sin, interleaved, seqlen_offsets, None, None)
    k_rot = _apply(_source(k), cos_k, sin_k, interleaved, seqlen_offsets, None, None)
    q.copy_(q_rot)
    k.copy_(k_rot)
    return qkv


def apply_rotary_emb_kv_(kv, cos, sin, interleaved=False, seqlen_offsets=0):
    """``flash_attn.layers.rotary.apply_rotary_emb_kv_``: rotates K of kv (batch, seqlen, 2, nheads, headdim)
    in place."""
    if kv.dim() != 5 or kv.shape[2] != 2:
        raise ValueError(f"apply_rotary_emb_kv_: kv must be (batch, seqlen, 2, nheads, headdim), got "
                         f"{tuple(kv.shape)}")
    k = kv[:, :, 0]
    k.copy_(_apply(_source(k), cos, sin, interleaved, seqlen_offsets, None, None))
    return kv


class RotaryEmbedding(torch.nn.Module):
    """``flash_attn.layers.rotary.RotaryEmbedding(dim, base=10000.0, interleaved=False, scale_base=None,
    device=None)``: rotary embedding (XPos scaling when ``scale_base`` is set) applied in place to qkv / kv.

    Buffers ``inv_freq`` and ``scale`` are non-persistent (no state_dict keys), as in flash-attn. The cos/sin
    caches are built in fp32 and cast to the input's dtype, and grow to the longest sequence seen.
    """

    def __init__(self, dim: int, base=10000.0, interleaved=False, scale_base=None, device=None):
        super().__init__()
        self.dim = dim
        self.base = float(base)
        self.register_buffer("inv_freq", self._compute_inv_freq(device), persistent=False)
        self.interleaved = interleaved
        self.scale_base = scale_base
        scale = self._compute_scale(device) if scale_base is not None else None
        self.register_buffer("scale", scale, persistent=False)
        self._seq_len_cached = 0
        self._cos_cached = None
        self._sin_cached = None
        self._cos_k_cached = None
        self._sin_k_cached = None

    def _compute_inv_freq(self, device=None):
        exponents = torch.arange(0, self.dim, 2, device=device, dtype=torch.float32) / self.dim
        return 1.0 / (self.base ** exponents)

    def _compute_scale(self, device=None):
        even = torch.arange(0, self.dim, 2, device=device, dtype=torch.float32)
        return (even + 0.4 * self.dim) / (1.4 * self.dim)

    def _update_cos_sin_cache(self, seqlen, device=None, dtype=None):
        stale = (seqlen > self._seq_len_cached or self._cos_cached is None or self._cos_cached.device != device
                 or self._cos_cached.dtype != dtype or (self.training and self._cos_cached.is_inference()))
        if not stale:
            return
        self._seq_len_cached = seqlen
        positions = torch.arange(seqlen, device=device, dtype=torch.float32)
        inv_freq = self.inv_freq if self.inv_freq.dtype == torch.float32 else self._compute_inv_freq(device)
        angles = torch.outer(positions, inv_freq.to(device))
        if self.scale is None:
            self._cos_cached = torch.cos(angles).to(dtype)
            self._sin_cached = torch.sin(angles).to(dtype)
            return
        scale32 = self.scale if self.scale.dtype == torch.float32 else self._compute_scale(self.scale.device)
        power = (torch.arange(seqlen, dtype=torch.float32, device=scale32.device) - seqlen // 2) / self.scale_base
        scale = scale32.to(power.device) ** power[:, None]
        scale = scale.to(angles.device)
        self._cos_cached = (torch.cos(angles) * scale).to(dtype)
        self._sin_cached = (torch.sin(angles) * scale).to(dtype)
        self._cos_k_cached = (torch.cos(angles) / scale).to(dtype)
        self._sin_k_cached = (torch.sin(angles) / scale).to(dtype)

    def forward(self, qkv, kv=None, seqlen_offset=0, max_seqlen=None, num_heads_q=None):
        """qkv (batch, seqlen, 3, nheads, headdim) or (batch, seqlen, num_heads_q + 2 * num_heads_k, headdim)
        when kv is None, else q (batch, seqlen, nheads, headdim) with kv (batch, seqlen, 2, nheads, headdim).
        ``seqlen_offset``: int or (batch,) tensor (then pass ``max_seqlen`` to size the cache)."""
        seqlen = qkv.shape[1]
        if max_seqlen is not None:
            self._update_cos_sin_cache(int(max_seqlen), device=qkv.device, dtype=qkv.dtype)
        elif isinstance(seqlen_offset, int):
            self._update_cos_sin_cache(seqlen + seqlen_offset, device=qkv.device, dtype=qkv.dtype)
        elif self._cos_cached is None:
            raise ValueError("RotaryEmbedding: with a tensor seqlen_offset, pass max_seqlen to build the cache")
        xpos = self.scale is not None
        if kv is None:
            return apply_rotary_emb_qkv_(qkv, self._cos_cached, self._sin_cached,
                                         self._cos_k_cached if xpos else None, self._sin_k_cached if xpos else None,
                                         interleaved=self.interleaved, seqlen_offsets=seqlen_offset,
                                         num_heads_q=num_heads_q)
        q = apply_rotary_emb(qkv, self._cos_cached, self._sin_cached, interleaved=self.interleaved, inplace=True,
                             seqlen_offsets=seqlen_offset)
        kv = apply_rotary_emb_kv_(kv, self._cos_k_cached if xpos else self._cos_cached,
                                  self._sin_k_cached if xpos else self._sin_cached, interleaved=self.interleaved,
                                  seqlen_offsets=seqlen_offset)
        return q, kv
