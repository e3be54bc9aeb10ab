"""Pure-PyTorch re-implementations of the original fused libraries' documented semantics.

flash-attn, xformers, apex and liger-kernel do not install here (CUDA only), so the swap tests compare each porter
shim against these definitions, written from the libraries' documentation (layouts, scaling, mask alignment,
GQA head mapping, eps placement, dtype rules, optimizer update rules). They are deliberately naive (explicit
softmax, per-sequence loops) and share no code with the shims or with porter's kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ------------------------------------------------------------------------------------------------ flash-attn


def _expand_kv(k: torch.Tensor, heads: int, head_axis: int) -> torch.Tensor:
    """flash-attn / xformers GQA: query head h reads kv head h // (heads / heads_kv)."""
    return k.repeat_interleave(heads // k.shape[head_axis], dim=head_axis)


def flash_attn_func(q, k, v, softmax_scale=None, causal=False):
    """q (B, Sq, H, D), k/v (B, Sk, Hk, D). Bottom-right causal alignment; rows that see no key are zero."""
    b, sq, h, d = q.shape
    sk = k.shape[1]
    scale = 1.0 / math.sqrt(d) if softmax_scale is None else softmax_scale
    kk, vv = _expand_kv(k, h, 2).float(), _expand_kv(v, h, 2).float()
    scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), kk) * scale
    if causal:
        i = torch.arange(sq)[:, None]
        j = torch.arange(sk)[None, :]
        allowed = j <= i + (sk - sq)
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # fully masked rows -> 0
    else:
        probs = torch.softmax(scores, dim=-1)
    return torch.einsum("bhqk,bkhd->bqhd", probs, vv).to(q.dtype)


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, softmax_scale=None, causal=False):
    """Packed (total, H, D) sequences, each attending within itself (one dense call per sequence); tokens outside
    the packed sequences are zero."""
    bq, bk = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    parts = [torch.zeros_like(q[: bq[0]])]
    for b in range(len(bq) - 1):
        qs, ks, vs = q[bq[b]: bq[b + 1]], k[bk[b]: bk[b + 1]], v[bk[b]: bk[b + 1]]
        if qs.shape[0] and ks.shape[0]:
            parts.append(flash_attn_func(qs[None], ks[None], vs[None], softmax_scale, causal)[0])
        else:
            parts.append(torch.zeros_like(qs))
    parts.append(torch.zeros_like(q[bq[-1]:]))
    return torch.cat(parts, dim=0)


def rms_norm(x, weight, eps):
    xf = x.float()
    return (xf / torch.sqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


def layer_norm(x, weight, bias, eps):
    xf = x.float()
    mean = xf.mean(-1, keepdim=True)
    var = (xf - mean).pow(2).mean(-1, keepdim=True)  # biased
    y = (xf - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight.float()
    if bias is not None:
        y = y + bias.float()
    return y.to(x.dtype)


def dropout_add_layer_norm(x0, residual, weight, bias, epsilon, rowscale=None, layerscale=None, prenorm=False,
                           residual_in_fp32=False, rms=False):
    x = x0.float()
    if rowscale is not None:
        x = x * rowscale.float()[..., None]
    if layerscale is not None:
        x = x * layerscale.float()
    if residual is not None:
        x = x + residual.float()
    if rms:
        z = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + epsilon) * weight.float()
        if bias is not None:
            z = z + bias.float()
    else:
        z = layer_norm(x, weight, bias, epsilon)
    z = z.to(x0.dtype)
    res_dtype = residual.dtype if residual is not None else (torch.float32 if residual_in_fp32 else x0.dtype)
    return (z, x.to(res_dtype)) if prenorm else z


def _rotate_pairs(x, cos, sin, interleaved):
    """x (..., S, rd) with tables (S, rd/2): the rotation written out pair by pair."""
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
    else:
        x1, x2 = x.chunk(2, dim=-1)
    o1 = x1 * cos - x2 * sin
    o2 = x1 * sin + x2 * cos
    if interleaved:
        return torch.stack((o1, o2), dim=-1).flatten(-2)
    return torch.cat((o1, o2), dim=-1)


def flash_apply_rotary_emb(x, cos, sin, interleaved=False, seqlen_offsets=0, cu_seqlens=None):
    """x (B, S, H, D) [(total, H, D) with cu_seqlens]; cos/sin (seqlen_ro, rd/2); first rd dims rotated.
    Positions past the table (tensor offsets only) are left unrotated."""
    rd = 2 * cos.shape[-1]

    def one(seq, offset):  # seq (S, H, D)
        s = seq.shape[0]
        pos = torch.arange(s) + offset
        inside = pos < cos.shape[0]
        c = torch.where(inside[:, None], cos[pos.clamp(max=cos.shape[0] - 1)].float(), torch.ones(()))
        sn = torch.where(inside[:, None], sin[pos.clamp(max=cos.shape[0] - 1)].float(), torch.zeros(()))
        rot = _rotate_pairs(seq[..., :rd].float(), c[:, None, :], sn[:, None, :], interleaved)
        return torch.cat((rot, seq[..., rd:].float()), dim=-1).to(seq.dtype)

    if cu_seqlens is None:
        offs = seqlen_offsets.tolist() if isinstance(seqlen_offsets, torch.Tensor) else [seqlen_offsets] * x.shape[0]
        return torch.stack([one(x[b], offs[b]) for b in range(x.shape[0])], dim=0)
    bounds = cu_seqlens.tolist()
    offs = (seqlen_offsets.tolist() if isinstance(seqlen_offsets, torch.Tensor)
            else [seqlen_offsets] * (len(bounds) - 1))
    parts = [one(x[bounds[b]: bounds[b + 1]], offs[b]) for b in range(len(bounds) - 1)]
    return torch.cat(parts, dim=0)


def flash_rotary_tables(dim, seqlen, base=10000.0, scale_base=None):
    """(cos, sin, cos_k, sin_k) as flash-attn's RotaryEmbedding builds them (fp32), XPos when scale_base."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    freqs = torch.arange(seqlen, dtype=torch.float32)[:, None] * inv_freq[None, :]
    if scale_base is None:
        return freqs.cos(), freqs.sin(), freqs.cos(), freqs.sin()
    scale = (torch.arange(0, dim, 2, dtype=torch.float32) + 0.4 * dim) / (1.4 * dim)
    power = (torch.arange(seqlen, dtype=torch.float32) - seqlen // 2) / scale_base
    s = scale[None, :] ** power[:, None]
    return freqs.cos() * s, freqs.sin() * s, freqs.cos() / s, freqs.sin() / s


# --------------------------------------------------------------------------------------------------- xformers


def memory_efficient_attention(q, k, v, attn_bias=None, scale=None, causal=None):
    """q (B, Mq, H, K), k/v (B, Mk, Hk, K). ``attn_bias``: dense tensor broadcastable to (B, H, Mq, Mk) or None;
    ``causal``: None, "top_left" (LowerTriangularMask) or "bottom_right"."""
    h = q.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    kk, vv = _expand_kv(k, h, 2).float(), _expand_kv(v, h, 2).float()
    scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), kk) * scale
    if attn_bias is not None:
        scores = scores + attn_bias.float()
    mq, mk = q.shape[1], k.shape[1]
    if causal is not None:
        shift = (mk - mq) if causal == "bottom_right" else 0
        allowed = torch.arange(mk)[None, :] <= torch.arange(mq)[:, None] + shift
        scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return torch.einsum("bhqk,bkhd->bqhd", probs, vv).to(q.dtype)


def xformers_swiglu(x, w1, b1, w2, b2, w3, b3):
    x1 = F.linear(x, w1, b1)
    x2 = F.linear(x, w2, b2)
    return F.linear(F.silu(x1) * x2, w3, b3)


# ------------------------------------------------------------------------------------------------------- apex


def apex_rms_norm(x, normalized_shape, weight, eps):
    dims = tuple(range(-1, -len(normalized_shape) - 1, -1))
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(dims, keepdim=True) + eps)
    if weight is not None:
        y = y * weight.float()
    return y


def apex_layer_norm(x, normalized_shape, weight, bias, eps):
    return F.layer_norm(x.float(), tuple(normalized_shape), None if weight is None else weight.float(),
                        None if bias is None else bias.float(), eps)


class ApexAdam:
    """apex multi_tensor_adam: mode 1 (AdamW) adds decay * p to the update; mode 0 adds it to the gradient."""

    def __init__(self, params, lr, betas, eps, weight_decay, adam_w_mode, bias_correction):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.adam_w, self.bias_correction = adam_w_mode, bias_correction
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        c1 = 1 - b1 ** self.t if self.bias_correction else 1.0
        c2 = 1 - b2 ** self.t if self.bias_correction else 1.0
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            g = p.grad.clone()
            if not self.adam_w:
                g = g + self.wd * p
            m.copy_(b1 * m + (1 - b1) * g)
            v.copy_(b2 * v + (1 - b2) * g * g)
            update = (m / c1) / (torch.sqrt(v / c2) + self.eps)
            if self.adam_w:
                update = update + self.wd * p
            p.sub_(self.lr * update)


class ApexLamb:
    """apex multi_tensor_lamb (stage 1: Adam moments on globally clipped gradients; stage 2: trust ratio)."""

    def __init__(self, params, lr, betas, eps, weight_decay, adam_w_mode=True, grad_averaging=True,
                 max_grad_norm=1.0, use_nvlamb=False, bias_correction=True):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.adam_w, self.avg, self.max_norm, self.nv = adam_w_mode, grad_averaging, max_grad_norm, use_nvlamb
        self.bias_correction = bias_correction
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        b3 = 1 - b1 if self.avg else 1.0
        c1 = 1 - b1 ** self.t if self.bias_correction else 1.0
        c2 = 1 - b2 ** self.t if self.bias_correction else 1.0
        gnorm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in self.params))
        clip = gnorm / self.max_norm if gnorm > self.max_norm else 1.0
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            g = p.grad / clip
            if not self.adam_w:
                g = g + self.wd * p
            m.copy_(b1 * m + b3 * g)
            v.copy_(b2 * v + (1 - b2) * g * g)
            update = (m / c1) / (torch.sqrt(v / c2) + self.eps)
            if self.adam_w:
                update = update + self.wd * p
            pn, un = float(p.norm()), float(update.norm())
            ratio = self.lr * pn / un if (self.nv or self.wd != 0) and pn != 0 and un != 0 else self.lr
            p.sub_(ratio * update)


# ------------------------------------------------------------------------------------------------ liger-kernel


def liger_rms_norm(x, weight, eps, offset=0.0, casting_mode="llama"):
    if casting_mode == "llama":
        xf = x.float()
        normed = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
        return (normed * (offset + weight.float())).to(x.dtype)
    if casting_mode == "gemma":
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * (offset + weight.float())).to(x.dtype)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (offset + weight)


def hf_rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def hf_apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    """Hugging Face ``apply_rotary_pos_emb``: cos/sin (B, S, D) full width."""
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q.float() * cos + hf_rotate_half(q.float()) * sin).to(q.dtype)
    k_embed = (k.float() * cos + hf_rotate_half(k.float()) * sin).to(k.dtype)
    return q_embed, k_embed


def hf_rope_tables(positions, dim, base=10000.0):
    """(B, S, D) full-width cos/sin for integer positions (B, S), HF ``cat((freqs, freqs))`` layout."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    freqs = positions.float()[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def llama_mlp(x, gate_w, up_w, down_w):
    return F.linear(F.silu(F.linear(x, gate_w)) * F.linear(x, up_w), down_w)
