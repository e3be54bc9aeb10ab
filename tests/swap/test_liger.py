"""liger_kernel.transformers shims vs Liger / Hugging Face semantics (``originals``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from porter.kernels.compat import UnsupportedArgumentError
from porter.kernels.compat.liger_kernel.transformers import (
    LigerLayerNorm,
    LigerRMSNorm,
    LigerSwiGLUMLP,
    liger_rotary_pos_emb,
)
from torch.func import functional_call

from . import originals
from .conftest import check_swap


def _randn(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("casting_mode,offset", [("llama", 0.0), ("gemma", 1.0), ("none", 0.5)])
def test_liger_rms_norm(path, casting_mode, offset):
    mod = LigerRMSNorm(16, eps=1e-5, offset=offset, casting_mode=casting_mode,
                       init_fn="zeros" if offset else "ones")
    assert list(mod.state_dict()) == ["weight"] and mod.variance_epsilon == 1e-5
    w = _randn(16, seed=1) * 0.1 + (0.0 if offset else 1.0)
    check_swap(path, lambda x, w: functional_call(mod, {"weight": w}, (x,)),
               lambda x, w: originals.liger_rms_norm(x, w, 1e-5, offset, casting_mode), (_randn(2, 3, 16), w),
               kernels=("rmsnorm",))


@pytest.mark.parametrize("casting_mode", ["llama", "gemma"])
def test_liger_rms_norm_bf16_casting(casting_mode):
    mod = LigerRMSNorm(32, casting_mode=casting_mode, offset=0.25)
    with torch.no_grad():
        mod.weight.copy_(_randn(32, seed=3))
    x = _randn(4, 32).to(torch.bfloat16)
    out = mod(x)
    expected = originals.liger_rms_norm(x, mod.weight.detach(), 1e-6, 0.25, casting_mode)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, atol=0, rtol=0)  # same roundings as Liger's casting mode


def test_liger_rms_norm_without_affine(path):
    mod = LigerRMSNorm(8, elementwise_affine=False)
    assert list(mod.state_dict()) == []
    check_swap(path, mod, lambda x: originals.rms_norm(x, torch.ones(8), 1e-6), (_randn(3, 8),),
               kernels=("rmsnorm",))


@pytest.mark.parametrize("bias", [False, True])
def test_liger_layer_norm(path, bias):
    mod = LigerLayerNorm(12, eps=1e-6, bias=bias)
    assert list(mod.state_dict()) == ["weight", "bias"]  # Liger always creates the bias parameter
    assert bool(mod.bias.any()) == bias
    w, b = _randn(12, seed=1), mod.bias.detach().clone()
    check_swap(path, lambda x, w, b: functional_call(mod, {"weight": w, "bias": b}, (x,)),
               lambda x, w, b: originals.layer_norm(x, w, b, 1e-6), (_randn(2, 12, scale=3.0), w, b),
               kernels=("layernorm",))


def test_liger_swiglu_mlp(path):
    config = SimpleNamespace(hidden_size=6, intermediate_size=10, hidden_act="silu")
    mod = LigerSwiGLUMLP(config)
    assert list(mod.state_dict()) == ["gate_proj.weight", "up_proj.weight", "down_proj.weight"]
    params = [p.detach() for p in mod.parameters()]
    keys = [n for n, _ in mod.named_parameters()]
    check_swap(path, lambda x, *ps: functional_call(mod, dict(zip(keys, ps, strict=True)), (x,)),
               lambda x, g, u, d: originals.llama_mlp(x, g, u, d), (_randn(2, 3, 6), *params),
               kernels=("swiglu",))
    with pytest.raises(ValueError, match="gelu"):
        LigerSwiGLUMLP(SimpleNamespace(hidden_size=6, intermediate_size=10, hidden_act="gelu"))


@pytest.mark.parametrize("per_batch", [False, True])
def test_liger_rotary_pos_emb(path, per_batch):
    b, hq, hk, s, d = 2, 4, 2, 5, 8
    q, k = _randn(b, hq, s, d), _randn(b, hk, s, d, seed=1)
    positions = torch.tensor([[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]]) if per_batch else torch.arange(s)[None]
    cos, sin = originals.hf_rope_tables(positions, d)
    check_swap(path, lambda q, k: liger_rotary_pos_emb(q, k, cos, sin),
               lambda q, k: originals.hf_apply_rotary_pos_emb(q, k, cos, sin), (q, k), kernels=("rotary",))


def test_liger_rotary_pos_emb_seq_heads_layout_and_position_ids(path):
    b, s, h, d = 2, 4, 2, 8
    q, k = _randn(b, s, h, d), _randn(b, s, h, d, seed=1)
    cos, sin = originals.hf_rope_tables(torch.arange(s)[None], d)
    check_swap(path, lambda q, k: liger_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2),
               lambda q, k: originals.hf_apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2), (q, k),
               kernels=("rotary",))
    # older Hugging Face convention: a (max_positions, dim) table indexed by position_ids
    table_cos, table_sin = originals.hf_rope_tables(torch.arange(16), d)
    position_ids = torch.tensor([[3, 4, 5, 6], [0, 1, 2, 3]])
    q2, k2 = _randn(b, h, s, d, seed=2), _randn(b, h, s, d, seed=3)
    check_swap(path, lambda q, k: liger_rotary_pos_emb(q, k, table_cos, table_sin, position_ids),
               lambda q, k: originals.hf_apply_rotary_pos_emb(q, k, table_cos[position_ids], table_sin[position_ids]),
               (q2, k2), kernels=("rotary",))


def test_liger_rotary_pos_emb_rejections():
    q = k = _randn(1, 1, 3, 4)
    cos, sin = originals.hf_rope_tables(torch.arange(3)[None], 4)
    with pytest.raises(ValueError, match="unsqueeze_dim") as info:
        liger_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=0)
    assert isinstance(info.value, UnsupportedArgumentError)
    with pytest.raises(ValueError, match="halves differ"):
        liger_rotary_pos_emb(q, k, _randn(1, 3, 4), sin)
