"""Legacy keyword-only nisa calls that returned a tile (`nc_match_replace8`, `range_select`) get a
`dst=` tile shaped like their operand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_match_replace.py"


def test_match_replace_and_range_select_get_dst(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "nisa.nc_match_replace8(dst=res," in text and "nisa.range_select(dst=res," in text
    mod = load(text, tmp_path)
    rng = np.random.default_rng(6)
    x = rng.permutation(128 * 32).reshape(128, 32).astype(np.float32)
    want = x.copy()
    top = np.argsort(-x, axis=1)[:, :8]
    np.put_along_axis(want, top, -1.0, axis=1)
    np.testing.assert_array_equal(run_clean(mod.drop_top8, x), want)
    lo = np.full((128, 1), 5.0, np.float32)
    hi = np.full((128, 1), 20.0, np.float32)
    cols = np.arange(32)[None, :]
    np.testing.assert_array_equal(run_clean(mod.keep_between, x, lo, hi),
                                  np.where((cols >= 5) & (cols < 20), x, np.finfo(np.float32).min))
