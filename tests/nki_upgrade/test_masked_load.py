"""A masked legacy load into a name keeps the grid's whole tile (the mask only limits what the DMA
writes), so a later instruction with a wider mask reads rows inside the tile, not past its end."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_masked_load_reread.py"


def test_masked_load_keeps_the_grid_tile(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "pair = nl.ndarray((128, 2, w), dtype=x.dtype, buffer=nl.sbuf)" in text
    assert "pair[:min(128, n - 1 - (t * 128)), :, :] = nl.load(" in text
    mod = load(text, tmp_path)
    rng = np.random.default_rng(11)
    for n in (200, 129, 128):  # a ragged last tile, one row in it, none
        x = rng.standard_normal((n, 48)).astype(np.float32)
        np.testing.assert_allclose(run_clean(mod.row_steps, x), np.diff(x, axis=0), rtol=1e-6, atol=1e-6)


def test_load_without_mask_unchanged():
    text, _ = upgrade('''
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl

@nki.jit
def k(x):
    i_p, i_f = nl.mgrid[0:128, 0:64]
    t = nl.load(x[i_p, i_f])
    return t
''')
    assert "t = nl.load(x[0:128, 0:64])" in text and "ndarray" not in text
