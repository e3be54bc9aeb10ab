"""Legacy grid indices with several axes in one dim, or an axis scaled by a variable, become access
patterns (`t.ap([[stride, count], ...], offset=...)`); the upgraded kernels match NumPy on the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_access_patterns.py"
RNG = np.random.default_rng(1)


def _module(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    return load(text, tmp_path), text, report


def test_window_and_flattening_indices_become_access_patterns(tmp_path):
    mod, text, report = _module(tmp_path)
    assert "t.ap([[t.strides[0], P], [win * t.strides[1], H // win]" in text
    assert "dst.ap(" in text and ")[...] = nl.copy(src.ap(" in text
    assert "mgrid" not in text.split("def mixed_partition")[0]  # dead grid definitions removed
    x = RNG.standard_normal((16, 8, 12)).astype(np.float32)
    want = x.reshape(16, 4, 2, 6, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(run_clean(mod.window_mean, x, 2), want, rtol=1e-5, atol=1e-6)
    y = RNG.standard_normal((8, 12)).astype(np.float32)
    np.testing.assert_array_equal(run_clean(mod.block_transpose, y, 3, 4),
                                  y.reshape(8, 3, 4).transpose(0, 2, 1).reshape(8, 12))


def test_rebased_grid_with_two_axes_in_an_hbm_row_and_a_mask(tmp_path):
    mod, text, _ = _module(tmp_path)
    body = text.split("def sliding_max")[1].split("def mixed_partition")[0].split('"""')[2]
    assert "mgrid" not in body and "i_r" not in body  # `i_r = t * 128 + i_r` no longer keeps the grid alive
    x = RNG.standard_normal((300, 5)).astype(np.float32)
    want = np.stack([x[i:i + 3] for i in range(298)]).max(axis=1)
    np.testing.assert_array_equal(run_clean(mod.sliding_max, x, 3), want)


def test_tile_partition_dim_mixed_with_a_free_axis_stays_marked(tmp_path):
    _, text, report = _module(tmp_path)
    body = text.split("def mixed_partition")[1]
    assert "# porter: NRN707" in body and "t[i + j, j]" in body and ".ap(" not in body
    assert [m.rule for m in report.markers] == ["NRN707"] * len(report.markers)
