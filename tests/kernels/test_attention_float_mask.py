"""A float mask in the Hugging Face convention (-inf where masked) over whole key tiles must not
produce NaN in the tiled online softmax."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import porter.kernels as pk  # noqa: E402


@pytest.mark.parametrize("fill", [float("-inf"), torch.finfo(torch.float32).min])
def test_leading_masked_tiles_give_finite_exact_results(fill):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 2, 4, 16, generator=g)
    k, v = torch.randn(1, 2, 600, 16, generator=g), torch.randn(1, 2, 600, 16, generator=g)
    mask = torch.zeros(1, 600)
    mask[:, :550] = fill
    expected = torch.softmax((q @ k.transpose(-1, -2)) / 4.0 + mask[:, None, None, :], -1) @ v
    with pk.simulate():
        got = pk.attention(q, k, v, attention_mask=mask)
    assert not torch.isnan(got).any()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
