"""Legacy `nisa.iota(expr, dtype)` over an index grid becomes `nisa.iota(dst=..., pattern=...,
offset=..., channel_multiplier=...)`: the partition axis' coefficient is the channel multiplier,
each free axis one [coefficient, extent] pair, the constant the offset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_grid_iota.py"


def test_grid_iota_values(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "channel_multiplier=2" in text and "pattern=[[5, 4], [3, 2], [1, 3]]" in text
    assert "arange" not in text and "mgrid" not in text
    mod = load(text, tmp_path)
    rows, codes = run_clean(mod.ramps, np.zeros((1, 1), np.float32))
    np.testing.assert_array_equal(rows, np.arange(256).reshape(256, 1))
    p, a, b, c = np.meshgrid(np.arange(64), np.arange(4), np.arange(2), np.arange(3), indexing="ij")
    np.testing.assert_array_equal(codes, 2 * p + 5 * a + 3 * b + c + 1)


def test_non_affine_iota_is_marked():
    source = '''
import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl

@nki.jit
def k(x):
    i_p, i_f = nl.mgrid[0:128, 0:4]
    t = nisa.iota(i_p * i_f, dtype=nl.int32)
    return t
'''
    text, report = upgrade(source)
    assert any(m.rule == "NRN706" and "index-grid expression not translated" in m.text
               for m in report.markers), report.markers
