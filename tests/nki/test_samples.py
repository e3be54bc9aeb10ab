import nki
import numpy as np
import pytest
import torch

from porter.nki import last_run_stats
from tests.nki import kernels_sample as ks
from tests.nki.helpers import rand


def test_tiled_add_matches_numpy():
    a, b = rand(256, 512), rand(256, 512, seed=1)
    got = nki.simulate(ks.tiled_add_kernel)(a, b)
    np.testing.assert_allclose(got, a + b, rtol=1e-6)
    stats = last_run_stats()
    assert stats.instructions["dma"] == 6 and stats.instructions["vector"] == 2
    assert stats.hbm_to_sbuf_bytes == 2 * a.nbytes and stats.sbuf_to_hbm_bytes == a.nbytes


def test_matmul_psum_accumulation():
    lhsT, rhs = rand(512, 128), rand(512, 256, seed=2)
    got = nki.simulate(ks.matmul_kernel)(lhsT, rhs)
    np.testing.assert_allclose(got, lhsT.T @ rhs, rtol=1e-4, atol=1e-3)
    assert last_run_stats().instructions["tensor"] == 4


def test_matmul_bf16_torch_in_torch_out():
    lhsT = torch.randn(256, 64, dtype=torch.bfloat16)
    rhs = torch.randn(256, 128, dtype=torch.bfloat16)
    got = nki.simulate(ks.matmul_kernel)(lhsT, rhs)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    torch.testing.assert_close(got, lhsT.float().T @ rhs.float(), rtol=1e-2, atol=1e-2)


def test_softmax():
    x = rand(128, 300)
    got = nki.simulate(ks.softmax_kernel)(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_spmd_grid():
    x = rand(512, 64)
    got = nki.simulate(ks.spmd_scale_kernel[4])(x, 3.0)
    np.testing.assert_allclose(got, x * 3.0, rtol=1e-6)
    assert last_run_stats().instances == 4


def test_direct_call_runs_on_simulator():
    a, b = rand(128, 64), rand(128, 128, seed=3)
    got = ks.legacy_style_kernel(a, b)
    np.testing.assert_allclose(got, (a.T @ b) * 0.5 + 1.0, rtol=1e-4, atol=1e-4)
    assert ks.legacy_style_kernel.last_stats.instructions["tensor"] >= 1


def test_outputs_have_no_uninitialised_values():
    got = nki.simulate(ks.tiled_add_kernel)(rand(128, 8), rand(128, 8))
    assert not np.isnan(got).any()


@pytest.mark.parametrize("target", ["trn1", "trn2", "trn3"])
def test_samples_run_on_every_target(monkeypatch, target):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", target)
    got = nki.simulate(ks.matmul_kernel)(rand(128, 32), rand(128, 64))
    assert got.shape == (32, 64)
