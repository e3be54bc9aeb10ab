"""flash_attn shims vs flash-attn's documented semantics (``originals``), on the reference and simulated paths."""

from __future__ import annotations

import pytest
import torch
from porter.kernels.compat import UnsupportedArgumentError
from porter.kernels.compat.flash_attn import (
    flash_attn_func,
    flash_attn_kvpacked_func,
    flash_attn_qkvpacked_func,
    flash_attn_varlen_func,
    flash_attn_varlen_kvpacked_func,
    flash_attn_varlen_qkvpacked_func,
)
from porter.kernels.compat.flash_attn import flash_attn_interface as interface

from . import originals
from .conftest import check_swap


def _qkv(b, sq, sk, h, hk, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, sq, h, d, generator=g), torch.randn(b, sk, hk, d, generator=g),
            torch.randn(b, sk, hk, d, generator=g))


def test_package_exports_interface_functions():
    assert flash_attn_func is interface.flash_attn_func
    assert flash_attn_varlen_func is interface.flash_attn_varlen_func


@pytest.mark.parametrize("b,sq,sk,h,hk,d,causal,scale", [
    (2, 6, 6, 4, 2, 8, False, None),     # GQA, square
    (2, 6, 6, 4, 2, 8, True, None),
    (1, 3, 7, 2, 2, 8, True, None),      # bottom-right causal, fewer queries than keys
    (1, 7, 3, 2, 1, 8, True, 0.3),       # more queries than keys: the first rows see nothing -> zeros; MQA
    (2, 1, 5, 2, 2, 4, True, None),      # decode step
    (1, 5, 9, 3, 3, 16, False, 0.7),     # cross attention
])
def test_flash_attn_func(path, b, sq, sk, h, hk, d, causal, scale):
    q, k, v = _qkv(b, sq, sk, h, hk, d)
    out = check_swap(path,
                     lambda q, k, v: flash_attn_func(q, k, v, softmax_scale=scale, causal=causal),
                     lambda q, k, v: originals.flash_attn_func(q, k, v, scale, causal),
                     (q, k, v), kernels=("attention",))
    assert out[0].is_contiguous()
    if causal and sq > sk:
        assert torch.count_nonzero(out[0][:, : sq - sk]) == 0


def test_flash_attn_qkvpacked_func(path):
    q, k, v = _qkv(2, 5, 5, 2, 2, 8)
    qkv = torch.stack((q, k, v), dim=2)
    check_swap(path, lambda qkv: flash_attn_qkvpacked_func(qkv, causal=True),
               lambda qkv: originals.flash_attn_func(*qkv.unbind(2), None, True), (qkv,), kernels=("attention",))


def test_flash_attn_kvpacked_func(path):
    q, k, v = _qkv(2, 4, 6, 4, 2, 8)
    kv = torch.stack((k, v), dim=2)
    check_swap(path, lambda q, kv: flash_attn_kvpacked_func(q, kv, softmax_scale=0.5, causal=True),
               lambda q, kv: originals.flash_attn_func(q, *kv.unbind(2), 0.5, True), (q, kv),
               kernels=("attention",))


def _packed(total_q, total_k, h, hk, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(total_q, h, d, generator=g), torch.randn(total_k, hk, d, generator=g),
            torch.randn(total_k, hk, d, generator=g))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("cu_q,cu_k,extra", [
    ([0, 3, 8, 9], [0, 3, 8, 9], 0),       # self attention, one length-1 sequence
    ([0, 2, 7, 7, 10], [0, 5, 7, 9, 13], 2),  # cross: Sq < Sk, Sq > Sk, an empty query sequence; padded max_seqlen
])
def test_flash_attn_varlen_func(path, causal, cu_q, cu_k, extra):
    cu_q_t, cu_k_t = torch.tensor(cu_q, dtype=torch.int32), torch.tensor(cu_k, dtype=torch.int32)
    max_q = max(b - a for a, b in zip(cu_q, cu_q[1:], strict=False)) + extra
    max_k = max(b - a for a, b in zip(cu_k, cu_k[1:], strict=False)) + extra
    q, k, v = _packed(cu_q[-1], cu_k[-1], 4, 2, 8)
    check_swap(path,
               lambda q, k, v: flash_attn_varlen_func(q, k, v, cu_q_t, cu_k_t, max_q, max_k, causal=causal),
               lambda q, k, v: originals.flash_attn_varlen_func(q, k, v, cu_q_t, cu_k_t, None, causal),
               (q, k, v), kernels=("attention",))


def test_flash_attn_varlen_zero_key_sequence_and_trailing_tokens(path):
    cu_q, cu_k = torch.tensor([0, 2, 4], dtype=torch.int32), torch.tensor([0, 0, 3], dtype=torch.int32)
    q, k, v = _packed(5, 3, 2, 2, 4)  # token 4 of q is outside every sequence
    out = check_swap(path, lambda q, k, v: flash_attn_varlen_func(q, k, v, cu_q, cu_k, 2, 3),
                     lambda q, k, v: originals.flash_attn_varlen_func(q, k, v, cu_q, cu_k), (q, k, v))
    assert torch.count_nonzero(out[0][:2]) == 0 and torch.count_nonzero(out[0][4]) == 0


def test_flash_attn_varlen_packed_forms(path):
    cu = torch.tensor([0, 4, 6], dtype=torch.int32)
    q, k, v = _packed(6, 6, 2, 2, 8)
    qkv = torch.stack((q, k, v), dim=1)
    check_swap(path, lambda qkv: flash_attn_varlen_qkvpacked_func(qkv, cu, 4, causal=True),
               lambda qkv: originals.flash_attn_varlen_func(*qkv.unbind(1), cu, cu, None, True), (qkv,),
               kernels=("attention",))
    kv = torch.stack((k, v), dim=1)
    check_swap(path, lambda q, kv: flash_attn_varlen_kvpacked_func(q, kv, cu, cu, 4, 4, softmax_scale=0.2),
               lambda q, kv: originals.flash_attn_varlen_func(q, *kv.unbind(1), cu, cu, 0.2, False), (q, kv),
               kernels=("attention",))


def test_flash_attn_varlen_max_seqlen_too_small():
    cu = torch.tensor([0, 5], dtype=torch.int32)
    q, k, v = _packed(5, 5, 2, 2, 4)
    with pytest.raises(ValueError, match="max_seqlen_q"):
        flash_attn_varlen_func(q, k, v, cu, cu, 4, 5)
    with pytest.raises(ValueError, match="max_seqlen_k"):
        flash_attn_varlen_func(q, k, v, cu, cu, 5, 3)


@pytest.mark.parametrize("kwargs,name", [
    ({"dropout_p": 0.1}, "dropout_p"),
    ({"window_size": (4, 0)}, "window_size"),
    ({"softcap": 30.0}, "softcap"),
    ({"alibi_slopes": torch.ones(2)}, "alibi_slopes"),
    ({"return_attn_probs": True}, "return_attn_probs"),
])
def test_unsupported_arguments_raise(kwargs, name):
    q, k, v = _qkv(1, 3, 3, 2, 2, 4)
    cu = torch.tensor([0, 3], dtype=torch.int32)
    calls = [
        lambda: flash_attn_func(q, k, v, **kwargs),
        lambda: flash_attn_qkvpacked_func(torch.stack((q, k, v), 2), **kwargs),
        lambda: flash_attn_kvpacked_func(q, torch.stack((k, v), 2), **kwargs),
        lambda: flash_attn_varlen_func(q[0], k[0], v[0], cu, cu, 3, 3, **kwargs),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=name) as info:
            call()
        assert isinstance(info.value, UnsupportedArgumentError)


def test_block_table_raises_and_deterministic_is_accepted():
    q, k, v = _qkv(1, 3, 3, 2, 2, 4)
    cu = torch.tensor([0, 3], dtype=torch.int32)
    with pytest.raises(ValueError, match="block_table"):
        flash_attn_varlen_func(q[0], k[0], v[0], cu, cu, 3, 3, block_table=torch.zeros(1, 1, dtype=torch.int32))
    flash_attn_func(q, k, v, deterministic=True)
    flash_attn_func(q, k, v, dropout_p=0.0, window_size=(-1, -1), softcap=0.0)


def test_bad_head_counts_raise():
    q, k, v = _qkv(1, 3, 3, 3, 2, 4)
    with pytest.raises(ValueError, match="multiple"):
        flash_attn_func(q, k, v)
