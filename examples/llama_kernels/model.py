"""A tiny Llama-style decoder that uses fused CUDA kernels when they are installed."""

import math
import types
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from flash_attn import flash_attn_func
except ImportError:
    def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False):
        """Reference for flash_attn_func: q (B, T, H, D), k/v (B, T, Hkv, D), GQA by head repeat."""
        n_rep = q.shape[2] // k.shape[2]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        k = k.repeat_interleave(n_rep, dim=1)
        v = v.repeat_interleave(n_rep, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal,
                                             scale=softmax_scale)
        return out.transpose(1, 2)

try:
    from apex.normalization import FusedRMSNorm
except ImportError:
    class FusedRMSNorm(nn.Module):
        """Reference for apex.normalization.FusedRMSNorm."""

        def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True):
            super().__init__()
            self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) \
                else tuple(normalized_shape)
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(self.normalized_shape)) if elementwise_affine else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            dims = tuple(range(-len(self.normalized_shape), 0))
            xf = x.float()
            y = (xf * torch.rsqrt(xf.pow(2).mean(dims, keepdim=True) + self.eps)).type_as(x)
            return y * self.weight if self.weight is not None else y

try:
    import xformers.ops as xops
except ImportError:
    def _swiglu_reference(x, w1, b1, w2, b2, w3, b3):
        """Reference for xformers.ops.swiglu: w1 gate, w2 up, w3 down projection."""
        return F.linear(F.silu(F.linear(x, w1, b1)) * F.linear(x, w2, b2), w3, b3)

    xops = types.SimpleNamespace(swiglu=_swiglu_reference)


@dataclass
class LlamaConfig:
    vocab_size: int = 256
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    hidden_dim: int = 160
    max_seq_len: int = 64
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5


def rope_cache(head_dim: int, max_seq_len: int, theta: float):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, T, H, D) as flash-attn expects; cos/sin: (T, D)
    cos = cos[None, :, None, :].to(x.dtype)
    sin = sin[None, :, None, :].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class FlashAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads = cfg.n_heads, cfg.n_kv_heads
        self.head_dim = cfg.dim // cfg.n_heads
        self.softmax_scale = 1.0 / math.sqrt(self.head_dim)
        self.wqkv = nn.Linear(cfg.dim, (cfg.n_heads + 2 * cfg.n_kv_heads) * self.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * self.head_dim, cfg.dim, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q_size, kv_size = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        q, k, v = self.wqkv(x).split([q_size, kv_size, kv_size], dim=-1)
        q = apply_rotary(q.view(B, T, self.n_heads, self.head_dim), cos, sin)
        k = apply_rotary(k.view(B, T, self.n_kv_heads, self.head_dim), cos, sin)
        v = v.view(B, T, self.n_kv_heads, self.head_dim)
        out = flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=self.softmax_scale, causal=True)
        return self.wo(out.reshape(B, T, q_size))


class FusedSwiGLU(nn.Module):
    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(dim, hidden_dim, bias=False)
        self.w3 = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x):
        return xops.swiglu(x, self.w1.weight, None, self.w2.weight, None, self.w3.weight, None)


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.attn_norm = FusedRMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.attn = FlashAttention(cfg)
        self.ffn_norm = FusedRMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.ffn = FusedSwiGLU(cfg.dim, cfg.hidden_dim)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.ffn(self.ffn_norm(x))


class FusedLlama(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = FusedRMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        cos, sin = rope_cache(cfg.dim // cfg.n_heads, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        h = self.tok_embeddings(tokens)
        cos, sin = self.cos[:T], self.sin[:T]
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.output(self.norm(h))


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return FusedLlama(LlamaConfig()).eval()


def example_inputs() -> tuple:
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, LlamaConfig().vocab_size, (2, 16), generator=g),)
