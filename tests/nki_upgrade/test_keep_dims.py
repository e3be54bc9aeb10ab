"""Legacy `t[:, i]` on a 2-d on-chip tile was a (P, 1) tile; NKI 0.8 drops the dim, so the upgrade
writes `t[:, i:i + 1]` (also inside a helper whose parameter receives such a column)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_column_index.py"


def test_integer_index_keeps_the_column(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "maxes[:, b:b + 1]" in text and "stats[:, 0:1]" in text
    assert "whole[:, cols]" in text  # a slice held in a name is not an integer index
    mod = load(text, tmp_path)
    x = np.random.default_rng(3).standard_normal((128, 256)).astype(np.float32)
    blocks = x.reshape(128, 4, 64)
    want = (blocks - blocks.max(axis=2, keepdims=True)).reshape(128, 256)
    np.testing.assert_allclose(run_clean(mod.centre_blocks, x), want, rtol=1e-6, atol=1e-6)


def test_hbm_and_other_ranks_untouched():
    source = '''
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl

@nki.jit
def k(a):
    out = nl.ndarray((128, 4), dtype=a.dtype, buffer=nl.shared_hbm)
    cube = nl.ndarray((128, 4, 8), dtype=a.dtype, buffer=nl.sbuf)
    for i in nl.affine_range(4):
        nl.store(out[:, i], nl.load(a[:, i]))
        cube[:, i] = nl.load(a[:, i])
    return out
'''
    text, _ = upgrade(source)
    assert "out[:, i]" in text and "a[:, i]" in text and "cube[:, i]" in text
