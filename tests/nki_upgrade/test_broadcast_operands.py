"""A masked instruction on whole tiles slices each tile operand to the masked part, except along the
axes where the operand has extent 1: a (P, 1) per-row scale or a (1, F) bias broadcasts there, and
slicing it like the grid reached past its one element (IndexError on the simulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_broadcast_operands.py"


def test_broadcast_operands_keep_their_extent_one_axes(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    rows, cols = "min(128, n - (t * 128))", "min(256, w - (c * 256))"
    assert f"nl.multiply(xt[:{rows}, :{cols}], st[:{rows}, :])" in text
    assert f"nl.add(y[:{rows}, :{cols}], bt[:, :{cols}])" in text
    # broadcast along the only masked axis: the operand is used as it is
    assert "y = nl.multiply(xt[:, :min(512, w - (c * 512))], m)" in text
    mod = load(text, tmp_path)
    rng = np.random.default_rng(5)
    for n, w in ((200, 300), (128, 256), (1, 257), (129, 1)):
        x = rng.standard_normal((n, w)).astype(np.float32)
        s = rng.standard_normal((n, 1)).astype(np.float32)
        b = rng.standard_normal((1, w)).astype(np.float32)
        np.testing.assert_allclose(run_clean(mod.scale_shift, x, s, b), x * s + b, rtol=1e-6, atol=1e-6)
    for w in (700, 512, 3):
        x = rng.standard_normal((128, w)).astype(np.float32)
        s = rng.standard_normal((128, 5)).astype(np.float32)
        np.testing.assert_allclose(run_clean(mod.scale_by_row_max, x, s), x * s.max(axis=1, keepdims=True),
                                   rtol=1e-6)


def test_operand_of_the_grid_shape_is_still_sliced():
    text, _ = upgrade('''
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl

@nki.jit
def k(x, n):
    i_p, i_f = nl.mgrid[0:128, 0:64]
    a = nl.load(x[i_p, i_f], mask=(i_p < n))
    r = nl.zeros((128, 64), dtype=nl.float32)
    y = nl.add(a, r, mask=(i_p < n))
    return y
''')
    assert "y = nl.add(a[:min(128, n)], r[:min(128, n)])" in text
