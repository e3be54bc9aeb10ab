"""A block-dim tile passed whole to a helper becomes a list of tiles there too: the helper's parameter
is indexed as a list (`blocks[b][...]`), and its `.shape` / `.dtype` read the legacy values
(`(len(blocks), *blocks[0].shape)`, `blocks[0].dtype`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_block_helpers.py"


def test_helper_parameters_take_the_list_of_tiles(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "n_blocks, rows, cols = (len(blocks), *blocks[0].shape)" in text
    assert "blocks[b][:, :] = nl.load(" in text and "dtype=blocks[0].dtype" in text
    assert "blocks[b] = nl.multiply(blocks[b], factor)" in text
    mod = load(text, tmp_path)
    x = np.random.default_rng(4).standard_normal((384, 40)).astype(np.float32)
    np.testing.assert_array_equal(run_clean(mod.scaled_copy, x), 2 * x)


def test_helper_called_with_a_plain_tile_too_keeps_its_code_and_the_caller_is_marked():
    source = FIXTURE.read_text() + '''

@nki.jit
def plain(x):
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    t = nl.load(x)
    scale_blocks(t, 3.0)
    nl.store(out, t)
    return out
'''
    text, report = upgrade(source)
    assert "blocks[b] = nl.multiply(blocks[b], factor)" in text  # scale_blocks: not rewritten
    assert "n_blocks, rows, cols = (len(blocks), *blocks[0].shape)" in text  # load_blocks still is
    assert [m.line for m in report.markers] == [22]  # `scale_blocks(buf, 2.0)` takes the list whole
