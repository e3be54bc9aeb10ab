"""apex, liger_kernel, mamba_ssm and causal_conv1d public functions, from their documented semantics.

apex: FusedAdam (Adam; adam_w_mode=True is AdamW's decoupled weight decay), FusedLayerNorm
(torch.nn.LayerNorm), FusedRMSNorm (x / sqrt(mean(x^2) + eps) * weight).
liger_kernel: LigerRMSNorm (llama casting: normalise in fp32, cast back, then scale by
offset + weight), liger_rotary_pos_emb (q*cos + rotate_half(q)*sin), LigerCrossEntropyLoss
(torch's cross entropy), LigerSwiGLUMLP (down(silu(gate(x)) * up(x))); apply_liger_kernel_to_*
patch a model family with fused kernels, so the reference (the model unchanged) is a no-op.
mamba_ssm.selective_scan_fn (u, delta (B, D, L), A (D, N), B/C (B, N, L) or (B, G, N, L) or
(D, N), D (D,), z (B, D, L), delta_bias (D,)): h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,
y_t = C_t . h_t + D u_t, times silu(z) when z is given.
causal_conv1d_fn (x (batch, dim, seqlen), weight (dim, width), bias (dim,), activation None/silu/
swish): a depthwise convolution that sees only the current and past `width - 1` positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FusedAdam(torch.optim.AdamW):
    def __init__(self, params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-8, adam_w_mode=True,
                 weight_decay=0.0, amsgrad=False, set_grad_none=True, capturable=False, master_weights=False):
        if not bias_correction:
            raise NotImplementedError("porter's apex FusedAdam reference implements bias_correction=True only")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        self.adam_w_mode = adam_w_mode

    def step(self, closure=None):
        if self.adam_w_mode:
            return super().step(closure)
        # Adam with L2 regularisation: the decay joins the gradient
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and group["weight_decay"]:
                    p.grad = p.grad.add(p.detach(), alpha=group["weight_decay"])
        saved = [g["weight_decay"] for g in self.param_groups]
        for g in self.param_groups:
            g["weight_decay"] = 0.0
        try:
            return super().step(closure)
        finally:
            for g, wd in zip(self.param_groups, saved, strict=True):
                g["weight_decay"] = wd


class FusedLayerNorm(nn.LayerNorm):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, memory_efficient=False):
        super().__init__(normalized_shape, eps=eps, elementwise_affine=elementwise_affine)


class FusedRMSNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, memory_efficient=False):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape)) if elementwise_affine else None

    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        y = x.float() * torch.rsqrt(x.float().pow(2).mean(dims, keepdim=True) + self.eps)
        y = y * self.weight.float() if self.weight is not None else y
        return y.to(x.dtype)


class LigerRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6, offset=0.0, casting_mode="llama", init_fn="ones", in_place=False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size) if init_fn == "ones" else torch.zeros(hidden_size))
        self.variance_epsilon, self.offset, self.casting_mode = eps, offset, casting_mode

    def forward(self, x):
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        if self.casting_mode == "llama":
            return normed.to(x.dtype) * (self.offset + self.weight)
        return (normed * (self.offset + self.weight.float())).to(x.dtype)


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def liger_rotary_pos_emb(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


class LigerCrossEntropyLoss(nn.CrossEntropyLoss):
    def __init__(self, weight=None, ignore_index=-100, lse_square_scale=0.0, label_smoothing=0.0, reduction="mean",
                 softcap=None, return_z_loss=False, **kwargs):
        if lse_square_scale or softcap or return_z_loss:
            raise NotImplementedError("porter's LigerCrossEntropyLoss reference: no z-loss or softcap")
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction,
                         label_smoothing=label_smoothing)


class LigerFusedLinearCrossEntropyLoss(nn.Module):
    def __init__(self, ignore_index=-100, label_smoothing=0.0, reduction="mean", **kwargs):
        super().__init__()
        self.ce = nn.CrossEntropyLoss(ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)

    def forward(self, lin_weight, _input, target, bias=None):
        return self.ce(F.linear(_input, lin_weight, bias).float(), target)


class LigerSwiGLUMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        h, i = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def apply_liger_kernel_noop(*args, **kwargs) -> None:
    """apply_liger_kernel_to_*: swaps a model family's layers for fused kernels; the reference keeps them."""


def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                      return_last_state=False):
    dtype = u.dtype
    u, delta, A = u.float(), delta.float(), A.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape

    def per_step(M):  # (D, N) | (B, N, L) | (B, G, N, L) -> (B, D, N, L)
        M = M.float()
        if M.dim() == 2:
            return M[None, :, :, None].expand(batch, dim, M.shape[1], length)
        if M.dim() == 3:
            return M[:, None].expand(batch, dim, M.shape[1], length)
        return M.repeat_interleave(dim // M.shape[1], dim=1)

    Bs, Cs = per_step(B), per_step(C)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * Bs[..., t] * u[:, :, t, None]
        ys.append((h * Cs[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype)
    return (y, h) if return_last_state else y


def causal_conv1d_fn(x, weight, bias=None, initial_states=None, return_final_states=False,
                     final_states_out=None, activation=None, seq_idx=None):
    if activation not in (None, "silu", "swish"):
        raise NotImplementedError("activation must be None, silu, or swish")
    if seq_idx is not None or initial_states is not None:
        raise NotImplementedError("porter's causal_conv1d reference: no seq_idx / initial_states")
    dim, width = weight.shape
    out = F.conv1d(x.float(), weight.float()[:, None, :], bias.float() if bias is not None else None,
                   padding=width - 1, groups=dim)[..., : x.shape[-1]]
    if activation is not None:
        out = F.silu(out)
    return out.to(x.dtype)


def causal_conv1d_update(x, conv_state, weight, bias=None, activation=None, cache_seqlens=None,
                         conv_state_indices=None):
    """One decoding step: x (batch, dim) or (batch, dim, seqlen); conv_state (batch, dim, state_len) rolls."""
    squeeze = x.dim() == 2
    x3 = x[..., None] if squeeze else x
    width, seqlen = weight.shape[1], x3.shape[-1]
    window = torch.cat([conv_state, x3], dim=-1)
    conv_state.copy_(window[..., -conv_state.shape[-1]:])
    out = F.conv1d(window.float(), weight.float()[:, None, :], bias.float() if bias is not None else None,
                   groups=weight.shape[0])[..., -seqlen:]
    del width
    if activation in ("silu", "swish"):
        out = F.silu(out)
    out = out.to(x.dtype)
    return out[..., 0] if squeeze else out
