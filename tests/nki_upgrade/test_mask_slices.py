"""A legacy mask on an instruction written with slices bounds those slices (the mask's grid axes
line up with the accessed dims by position), where the upgrade used to drop it; a mask nothing in
its statement can carry is marked instead of dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_masked_slices.py"


def test_mask_bounds_slices_ds_and_block_tiles(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "mask" not in text.split("def double_rows")[1]
    assert "value=buf[t][:min(128, n - (t * 128))]" in text
    mod = load(text, tmp_path)
    rng = np.random.default_rng(2)
    for n in (200, 256, 1):
        x = rng.standard_normal((n, 64)).astype(np.float32)
        np.testing.assert_allclose(run_clean(mod.double_rows, x), 2 * x, rtol=1e-6)


def test_mask_with_nothing_to_bound_is_marked():
    text, report = upgrade('''
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl

@nki.jit
def k(x, n):
    ip = nl.arange(128)[:, None]
    view = x[0:128, 0:64]
    t = nl.load(view, mask=(ip < n))
    return t
''')
    assert any(m.rule == "NRN707" and "no index or tile operand" in m.text for m in report.markers), report.markers
    assert "mask=(ip < n)" in text


def test_tile_valued_index_is_marked_as_indirect():
    text, report = upgrade('''
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl

@nki.jit
def gather(table, rows):
    idx = nl.load(rows)
    i_f = nl.arange(64)[None, :]
    t = nl.load(table[idx, i_f])
    return t
''')
    assert any("an index is a tile" in m.text and "scalar_offset=" in m.text for m in report.markers), report.markers
    assert "table[idx, i_f]" in text
