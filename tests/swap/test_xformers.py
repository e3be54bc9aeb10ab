"""xformers.ops shims vs xformers' documented semantics (``originals``), on the reference and simulated paths."""

from __future__ import annotations

import porter.kernels.compat.xformers.ops as xops
import pytest
import torch
from porter.kernels.compat import UnsupportedArgumentError
from porter.kernels.compat.xformers.ops import fmha
from porter.kernels.compat.xformers.ops.fmha.attn_bias import (
    BlockDiagonalCausalMask,
    BlockDiagonalMask,
    LowerTriangularFromBottomRightMask,
    LowerTriangularMask,
    LowerTriangularMaskWithTensorBias,
)
from torch.func import functional_call

from . import originals
from .conftest import check_swap


def _randn(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def _qkv(b, mq, mk, h, hk, k, seed=0):
    return _randn(b, mq, h, k, seed=seed), _randn(b, mk, hk, k, seed=seed + 1), _randn(b, mk, hk, k, seed=seed + 2)


def test_module_paths():
    assert xops.memory_efficient_attention is fmha.memory_efficient_attention
    assert xops.LowerTriangularMask is LowerTriangularMask
    assert fmha.attn_bias.LowerTriangularMask is LowerTriangularMask
    assert isinstance(LowerTriangularMask().add_bias(torch.zeros(1)), LowerTriangularMaskWithTensorBias)


@pytest.mark.parametrize("mq,mk,hk,scale", [(5, 5, 4, None), (4, 7, 2, 0.3), (6, 3, 1, None)])
def test_no_bias(path, mq, mk, hk, scale):
    q, k, v = _qkv(2, mq, mk, 4, hk, 8)
    check_swap(path, lambda q, k, v: xops.memory_efficient_attention(q, k, v, scale=scale),
               lambda q, k, v: originals.memory_efficient_attention(q, k, v, scale=scale), (q, k, v),
               kernels=("attention",))


@pytest.mark.parametrize("mq,mk", [(5, 5), (3, 6), (6, 3)])
def test_lower_triangular_is_top_left(path, mq, mk):
    q, k, v = _qkv(2, mq, mk, 2, 2, 8)
    check_swap(path, lambda q, k, v: xops.memory_efficient_attention(q, k, v, attn_bias=LowerTriangularMask()),
               lambda q, k, v: originals.memory_efficient_attention(q, k, v, causal="top_left"), (q, k, v),
               kernels=("attention",))


@pytest.mark.parametrize("mq,mk", [(3, 6), (4, 4)])
def test_lower_triangular_from_bottom_right(path, mq, mk):
    q, k, v = _qkv(1, mq, mk, 2, 2, 8)
    check_swap(path,
               lambda q, k, v: xops.memory_efficient_attention(q, k, v,
                                                               attn_bias=LowerTriangularFromBottomRightMask()),
               lambda q, k, v: originals.memory_efficient_attention(q, k, v, causal="bottom_right"), (q, k, v),
               kernels=("attention",))


def _padding_bias(b, mk, lengths):
    keep = torch.arange(mk)[None, :] < torch.tensor(lengths)[:, None]
    return torch.where(keep, 0.0, float("-inf"))[:, None, None, :]  # (B, 1, 1, Mk)


@pytest.mark.parametrize("kind", ["key_padding", "left_padding", "hf_min_padding", "per_head_key", "full"])
def test_dense_tensor_bias(path, kind):
    b, mq, mk, h = 2, 4, 6, 4
    q, k, v = _qkv(b, mq, mk, h, 2, 8)
    if kind == "key_padding":
        bias = _padding_bias(b, mk, [6, 3])
        kernels = ("attention",)
    elif kind in ("left_padding", "hf_min_padding"):  # masked keys first: -inf / finfo.min over a leading tile
        fill = float("-inf") if kind == "left_padding" else torch.finfo(torch.float32).min
        keep = torch.arange(mk)[None, :] >= torch.tensor([0, 4])[:, None]
        bias = torch.where(keep, 0.0, fill)[:, None, None, :].expand(b, h, mq, mk)
        kernels = ("attention",)
    elif kind == "per_head_key":
        bias = _randn(b, h, 1, mk, seed=5)
        kernels = ("attention",)
    else:  # varies per query row: plain PyTorch path
        bias = _randn(b, h, mq, mk, seed=5)
        kernels = ()
    check_swap(path, lambda q, k, v: xops.memory_efficient_attention(q, k, v, attn_bias=bias),
               lambda q, k, v: originals.memory_efficient_attention(q, k, v, attn_bias=bias), (q, k, v),
               kernels=kernels)


def test_dense_bias_gradient(path):
    q, k, v = _qkv(1, 3, 5, 2, 2, 4)
    bias = _randn(1, 1, 1, 5, seed=9)
    check_swap(path, lambda q, k, v, bias: xops.memory_efficient_attention(q, k, v, attn_bias=bias),
               lambda q, k, v, bias: originals.memory_efficient_attention(q, k, v, attn_bias=bias),
               (q, k, v, bias))


def test_lower_triangular_with_tensor_bias(path):
    b, m, h = 2, 5, 2
    q, k, v = _qkv(b, m, m, h, h, 8)
    bias = _padding_bias(b, m, [5, 4]).expand(b, h, m, m)
    check_swap(path,
               lambda q, k, v: xops.memory_efficient_attention(q, k, v, attn_bias=LowerTriangularMask().add_bias(bias)),
               lambda q, k, v: originals.memory_efficient_attention(q, k, v, attn_bias=bias, causal="top_left"),
               (q, k, v), kernels=("attention",))


def test_three_and_five_dim_inputs(path):
    q, k, v = _randn(2, 4, 8), _randn(2, 6, 8, seed=1), _randn(2, 6, 8, seed=2)
    bias = _randn(2, 4, 6, seed=3)  # (B, Mq, Mk) for 3-D inputs
    check_swap(path, lambda q, k, v: xops.memory_efficient_attention(q, k, v, attn_bias=bias),
               lambda q, k, v: originals.memory_efficient_attention(q[:, :, None], k[:, :, None], v[:, :, None],
                                                                    attn_bias=bias[:, None])[:, :, 0],
               (q, k, v))
    g, hh = 2, 3
    q5 = _randn(1, 4, g, hh, 8)
    k5 = _randn(1, 4, g, 1, 8, seed=1).expand(1, 4, g, hh, 8)  # grouped heads: kv broadcast over H
    v5 = _randn(1, 4, g, 1, 8, seed=2).expand(1, 4, g, hh, 8)

    def original(q, k, v):
        merge = lambda t: t.reshape(1, 4, g * hh, 8)  # noqa: E731
        return originals.memory_efficient_attention(merge(q), merge(k), merge(v), causal="top_left").reshape(
            1, 4, g, hh, 8)

    check_swap(path, lambda q, k, v: xops.memory_efficient_attention(q, k, v, attn_bias=LowerTriangularMask()),
               original, (q5, k5, v5), kernels=("attention",))


def test_output_dtype():
    q, k, v = _qkv(1, 3, 3, 1, 1, 4)
    assert xops.memory_efficient_attention(q, k, v, output_dtype=torch.bfloat16).dtype == torch.bfloat16


def test_materialize():
    dense = LowerTriangularMask().materialize((3, 4))
    expected = torch.tensor([[0.0, -1, -1, -1], [0, 0, -1, -1], [0, 0, 0, -1]]) * float("inf")
    expected = torch.where(torch.isnan(expected), 0.0, expected)
    assert torch.equal(dense, expected)
    assert torch.isinf(LowerTriangularFromBottomRightMask().materialize((2, 4))[0, 3])


def test_unsupported_dropout_and_biases():
    q, k, v = _qkv(1, 3, 3, 1, 1, 4)
    with pytest.raises(ValueError, match=r"`p`") as info:
        xops.memory_efficient_attention(q, k, v, p=0.1)
    assert isinstance(info.value, UnsupportedArgumentError)
    for bias in (BlockDiagonalMask.from_seqlens([2, 1]), BlockDiagonalCausalMask.from_seqlens([3]),
                 BlockDiagonalMask.from_seqlens([3]).make_causal_from_bottomright()):
        with pytest.raises(ValueError, match=type(bias).__name__):
            xops.memory_efficient_attention(q, k, v, attn_bias=bias)
    with pytest.raises(ValueError, match="broadcastable"):
        xops.memory_efficient_attention(q, k, v, attn_bias=torch.zeros(2, 1, 3, 3))


# ---------------------------------------------------------------------------------------------------------- swiglu

@pytest.mark.parametrize("pack,bias", [(True, True), (False, True), (True, False)])
def test_swiglu_module(path, pack, bias):
    mod = xops.SwiGLU(6, 10, 5, bias=bias, _pack_weights=pack)
    names = ["w12"] if pack else ["w1", "w2"]
    expected_keys = [f"{n}.{p}" for n in [*names, "w3"] for p in (["weight", "bias"] if bias else ["weight"])]
    assert list(mod.state_dict()) == expected_keys
    params = {name: p.detach() for name, p in mod.named_parameters()}
    keys = list(params)

    def shim(x, *ps):
        return functional_call(mod, dict(zip(keys, ps, strict=True)), (x,))

    def original(x, *ps):
        p = dict(zip(keys, ps, strict=True))
        if pack:
            w1, w2 = p["w12.weight"].chunk(2, dim=0)
            b1, b2 = p["w12.bias"].chunk(2) if bias else (None, None)
        else:
            w1, w2, b1, b2 = p["w1.weight"], p["w2.weight"], p.get("w1.bias"), p.get("w2.bias")
        return originals.xformers_swiglu(x, w1, b1, w2, b2, p["w3.weight"], p.get("w3.bias"))

    check_swap(path, shim, original, (_randn(3, 4, 6), *params.values()), kernels=("swiglu",))


def test_swiglu_function(path):
    x = _randn(4, 6)
    w1, w2, w3 = _randn(8, 6, seed=1), _randn(8, 6, seed=2), _randn(3, 8, seed=3)
    b1, b3 = _randn(8, seed=4), _randn(3, seed=5)
    check_swap(path, lambda *a: xops.swiglu(a[0], a[1], a[2], a[3], None, a[4], a[5]),
               lambda *a: originals.xformers_swiglu(a[0], a[1], a[2], a[3], None, a[4], a[5]),
               (x, w1, b1, w2, w3, b3), kernels=("swiglu",))


def test_unbind():
    x = _randn(3, 2)
    assert all(torch.equal(a, b) for a, b in zip(xops.unbind(x, 1), x.unbind(1), strict=True))
