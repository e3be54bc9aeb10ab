"""The opt-in SDPA swap (NRN416): porter's kernel where it is exact, SDPA itself everywhere else."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import porter.kernels as pk  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from porter.kernels.compat.sdpa import kernel_applies, scaled_dot_product_attention  # noqa: E402


def qkv(hq=4, hkv=4, sq=9, sk=9, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, hq, sq, d, generator=g), torch.randn(2, hkv, sk, d, generator=g),
            torch.randn(2, hkv, sk, d, generator=g))


@pytest.mark.parametrize("causal", [False, True])
def test_matches_sdpa_in_the_simulator(causal):
    q, k, v = qkv()
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.3)
    pk.reset_dispatch_counts()
    with pk.simulate():
        got = scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.3)
    assert pk.dispatch_counts("attention").get("simulate", 0) >= 1, pk.dispatch_counts()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_grouped_query_heads():
    q, k, v = qkv(hq=4, hkv=2)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    with pk.simulate():
        got = scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_masks_and_dropout_fall_back_to_sdpa():
    q, k, v = qkv()
    mask = torch.ones(9, 9, dtype=torch.bool).tril()
    assert not kernel_applies(q, k, v, mask, 0.0, False)
    assert not kernel_applies(q, k, v, None, 0.1, False)
    assert kernel_applies(q, k, v, None, 0.0, False)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_backward_matches_sdpa():
    q, k, v = (t.requires_grad_() for t in qkv(sq=5, sk=7))
    scaled_dot_product_attention(q, k, v).sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    F.scaled_dot_product_attention(q, k, v).sum().backward()
    for got, t in zip(grads, (q, k, v), strict=True):
        torch.testing.assert_close(got, t.grad, rtol=1e-5, atol=1e-5)
