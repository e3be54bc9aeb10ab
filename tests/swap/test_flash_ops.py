"""flash_attn.ops (rms_norm, layer_norm) and flash_attn.layers.rotary shims vs flash-attn's semantics."""

from __future__ import annotations

import pytest
import torch
from porter.kernels.compat import UnsupportedArgumentError
from porter.kernels.compat.flash_attn.layers.rotary import (
    RotaryEmbedding,
    apply_rotary_emb,
    apply_rotary_emb_func,
    apply_rotary_emb_kv_,
    apply_rotary_emb_qkv_,
)
from porter.kernels.compat.flash_attn.ops.layer_norm import DropoutAddLayerNorm, dropout_add_layer_norm, layer_norm
from porter.kernels.compat.flash_attn.ops.rms_norm import DropoutAddRMSNorm, RMSNorm, dropout_add_rms_norm, rms_norm
from torch.func import functional_call

from . import originals
from .conftest import check_swap


def _randn(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# ---------------------------------------------------------------------------------------------------------- norms

def test_rms_norm_function(path):
    x, w = _randn(2, 5, 16), _randn(16, seed=1) + 1
    check_swap(path, lambda x, w: rms_norm(x, w, 1e-5), lambda x, w: originals.rms_norm(x, w, 1e-5), (x, w),
               kernels=("rmsnorm",))


def test_rms_norm_eps_inside_the_root(path):
    x, w = _randn(3, 8, scale=0.01), torch.ones(8)  # tiny inputs: eps dominates, placement matters
    check_swap(path, lambda x, w: rms_norm(x, w, 1e-3), lambda x, w: originals.rms_norm(x, w, 1e-3), (x, w))


def test_rms_norm_module_params_and_forward(path):
    mod = RMSNorm(12, eps=1e-5)
    assert list(mod.state_dict()) == ["weight"] and mod.bias is None and mod.eps == 1e-5
    w = _randn(12, seed=2) + 1
    check_swap(path, lambda x, w: functional_call(mod, {"weight": w}, (x,)),
               lambda x, w: originals.rms_norm(x, w, 1e-5), (_randn(4, 12), w), kernels=("rmsnorm",))


def test_layer_norm_function(path):
    x, w, b = _randn(3, 4, 10, scale=2.0) + 0.5, _randn(10, seed=1), _randn(10, seed=2)
    check_swap(path, lambda x, w, b: layer_norm(x, w, b, 1e-5), lambda x, w, b: originals.layer_norm(x, w, b, 1e-5),
               (x, w, b), kernels=("layernorm",))


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("residual,rowscale,layerscale,prenorm,residual_in_fp32", [
    (False, False, False, False, False),
    (True, False, False, True, False),
    (True, True, True, True, False),
    (False, False, False, True, True),
])
def test_dropout_add_norm(path, rms, residual, rowscale, layerscale, prenorm, residual_in_fp32):
    x0 = _randn(2, 3, 8)
    res = _randn(2, 3, 8, seed=1) if residual else None
    w, b = _randn(8, seed=2) + 1, None if rms else _randn(8, seed=3)
    rs = _randn(2, 3, seed=4) if rowscale else None
    ls = _randn(8, seed=5) if layerscale else None
    fn = dropout_add_rms_norm if rms else dropout_add_layer_norm

    def shim(x0, res, w, rs, ls):
        return fn(x0, res, w, b, 0.0, 1e-5, rowscale=rs, layerscale=ls, prenorm=prenorm,
                  residual_in_fp32=residual_in_fp32)

    def original(x0, res, w, rs, ls):
        return originals.dropout_add_layer_norm(x0, res, w, b, 1e-5, rs, ls, prenorm, residual_in_fp32, rms=rms)

    check_swap(path, shim, original, (x0, res, w, rs, ls), kernels=("rmsnorm" if rms else "layernorm",))


def test_dropout_add_norm_dtypes_and_mask():
    x0 = _randn(2, 8).to(torch.bfloat16)
    z, x = dropout_add_layer_norm(x0, None, torch.ones(8), torch.zeros(8), 0.0, 1e-5, prenorm=True,
                                  residual_in_fp32=True)
    assert z.dtype == torch.bfloat16 and x.dtype == torch.float32
    z, mask = dropout_add_rms_norm(x0, None, torch.ones(8), None, 0.0, 1e-5, return_dropout_mask=True)
    assert mask.dtype == torch.uint8 and bool(mask.all())


@pytest.mark.parametrize("module_cls", [DropoutAddLayerNorm, DropoutAddRMSNorm])
def test_dropout_add_modules(module_cls):
    mod = module_cls(8, prenorm=True, p=0.1, eps=1e-5)
    keys = ["weight", "bias"] if module_cls is DropoutAddLayerNorm else ["weight"]
    assert list(mod.state_dict()) == keys and mod.epsilon == 1e-5
    x0, res = _randn(2, 8), _randn(2, 8, seed=1)
    with pytest.raises(ValueError, match="dropout_p") as info:
        mod.train()(x0, res)
    assert isinstance(info.value, UnsupportedArgumentError)
    z, x = mod.eval()(x0, res)  # evaluation: dropout off, exact
    torch.testing.assert_close(x, x0 + res)
    with pytest.raises(ValueError, match="dropout_p"):
        dropout_add_layer_norm(x0, res, mod.weight, None, 0.2, 1e-5)


# --------------------------------------------------------------------------------------------------------- rotary

def _tables(seqlen_ro, rotary_dim, seed=7):
    angles = _randn(seqlen_ro, rotary_dim // 2, seed=seed) * 3
    return angles.cos(), angles.sin()


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("headdim,rotary_dim,offsets", [
    (8, 8, 0),
    (12, 8, 3),                                    # partial rotary + int offset
    (8, 4, torch.tensor([0, 5], dtype=torch.int64)),  # per-batch offsets, the second past the table's end
])
def test_apply_rotary_emb(path, interleaved, headdim, rotary_dim, offsets):
    x = _randn(2, 6, 3, headdim)
    cos, sin = _tables(10, rotary_dim)
    check_swap(path,
               lambda x: apply_rotary_emb(x, cos, sin, interleaved=interleaved, seqlen_offsets=offsets),
               lambda x: originals.flash_apply_rotary_emb(x, cos, sin, interleaved, offsets),
               (x,), kernels=("rotary",))


def test_apply_rotary_emb_varlen(path):
    cu = torch.tensor([0, 2, 7, 7, 9], dtype=torch.int32)
    x = _randn(9, 2, 8)
    cos, sin = _tables(8, 6)
    offsets = torch.tensor([1, 0, 3, 2], dtype=torch.int32)
    check_swap(path, lambda x: apply_rotary_emb(x, cos, sin, seqlen_offsets=offsets, cu_seqlens=cu, max_seqlen=5),
               lambda x: originals.flash_apply_rotary_emb(x, cos, sin, False, offsets, cu), (x,),
               kernels=("rotary",))


def test_apply_rotary_emb_inplace(path):
    cos, sin = _tables(5, 8)

    def shim(x):
        y = x * 1.0  # a non-leaf, as in a model
        out = apply_rotary_emb(y, cos, sin, inplace=True)
        assert out is y
        return y

    check_swap(path, shim, lambda x: originals.flash_apply_rotary_emb(x, cos, sin), (_randn(1, 5, 2, 8),),
               kernels=("rotary",))
    assert apply_rotary_emb_func is apply_rotary_emb


def test_apply_rotary_emb_bad_inputs():
    cos, sin = _tables(4, 8)
    with pytest.raises(ValueError, match="exceeds"):
        apply_rotary_emb(_randn(1, 4, 1, 8), cos, sin, seqlen_offsets=1)
    with pytest.raises(ValueError, match="rotary_dim"):
        apply_rotary_emb(_randn(1, 4, 1, 6), cos, sin)


def test_qkv_and_kv_inplace_helpers(path):
    cos, sin = _tables(6, 8)
    qkv = _randn(2, 6, 3, 2, 8)

    def shim(qkv):
        t = qkv * 1.0
        assert apply_rotary_emb_qkv_(t, cos, sin) is t
        return t

    def original(qkv):
        q, k, v = qkv.unbind(2)
        rot = [originals.flash_apply_rotary_emb(t, cos, sin) for t in (q, k)]
        return torch.stack((*rot, v), dim=2)

    check_swap(path, shim, original, (qkv,), kernels=("rotary",))

    def shim_kv(kv):
        t = kv * 1.0
        assert apply_rotary_emb_kv_(t, cos, sin, seqlen_offsets=1) is t
        return t

    def original_kv(kv):
        k, v = kv.unbind(2)
        return torch.stack((originals.flash_apply_rotary_emb(k, cos, sin, False, 1), v), dim=2)

    check_swap(path, shim_kv, original_kv, (_randn(1, 5, 2, 2, 8),), kernels=("rotary",))


def test_qkv_gqa_layout(path):
    cos, sin = _tables(4, 8)
    hq, hk = 4, 2
    qkv = _randn(1, 4, hq + 2 * hk, 8)

    def shim(qkv):
        t = qkv * 1.0
        return apply_rotary_emb_qkv_(t, cos, sin, num_heads_q=hq)

    def original(qkv):
        q, k, v = qkv[:, :, :hq], qkv[:, :, hq: hq + hk], qkv[:, :, hq + hk:]
        return torch.cat((originals.flash_apply_rotary_emb(q, cos, sin),
                          originals.flash_apply_rotary_emb(k, cos, sin), v), dim=2)

    check_swap(path, shim, original, (qkv,), kernels=("rotary",))


@pytest.mark.parametrize("scale_base", [None, 16])
def test_rotary_embedding_module(path, scale_base):
    dim, seqlen = 8, 5
    mod = RotaryEmbedding(dim, interleaved=False, scale_base=scale_base)
    assert list(mod.state_dict()) == []  # inv_freq / scale are non-persistent, as in flash-attn
    cos, sin, cos_k, sin_k = originals.flash_rotary_tables(dim, seqlen, scale_base=scale_base)

    def shim(qkv):
        return mod(qkv * 1.0)

    def original(qkv):
        q, k, v = qkv.unbind(2)
        return torch.stack((originals.flash_apply_rotary_emb(q, cos, sin),
                            originals.flash_apply_rotary_emb(k, cos_k, sin_k), v), dim=2)

    check_swap(path, shim, original, (_randn(2, seqlen, 3, 2, dim),), kernels=("rotary",))


def test_rotary_embedding_with_kv_and_offset(path):
    dim = 8
    mod = RotaryEmbedding(dim, interleaved=True)
    cos, sin, _, _ = originals.flash_rotary_tables(dim, 7)

    def shim(q, kv):
        return mod(q * 1.0, kv * 1.0, seqlen_offset=3)

    def original(q, kv):
        k, v = kv.unbind(2)
        return (originals.flash_apply_rotary_emb(q, cos, sin, True, 3),
                torch.stack((originals.flash_apply_rotary_emb(k, cos, sin, True, 3), v), dim=2))

    check_swap(path, shim, original, (_randn(1, 4, 2, dim), _randn(1, 4, 2, 2, dim, seed=1)), kernels=("rotary",))
