"""Grid names and predicates are read by the binding that reaches the use: a name rebound inside an
`if` (NxDI's sliding-window attention: `if windowed: pred_causal = ...`) is marked where it is used
after the block, not translated with the last binding in the file; rebinding in one block, or the
same name in two loop bodies, still translates. A `mask=` of affine_select is kept (it was dropped:
the select then applied to every tile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURES = Path(__file__).parent / "fixtures"


def _band(x, shift):
    p, f = np.mgrid[0:128, 0:128]
    return np.where(p + shift >= f, x, 0.0)


def test_predicate_rebound_in_a_branch_is_marked(tmp_path):
    text, report = upgrade((FIXTURES / "legacy_rebound_grid_names.py").read_text())
    branch = text[text.index("def band_in_branch"):text.index("def band_straight_line")]
    assert "pattern=" not in branch and "offset=4" not in branch, branch
    assert "`keep` is rebound inside an if/for block" in branch
    lines = {m.line for m in report.markers if "rebound" in m.text}
    assert lines == {17}, report.markers
    # the other two kernels translate without markers and compute the legacy result
    assert all(m.line < 20 for m in report.markers), report.markers
    mod = load(text, tmp_path)
    x = np.random.default_rng(3).standard_normal((128, 128)).astype(np.float32)
    np.testing.assert_array_equal(run_clean(mod.band_straight_line, x), _band(x, 4))
    y = np.random.default_rng(4).standard_normal((256, 64)).astype(np.float32)
    want = y.copy()
    want[:, 32:] *= 2.0
    np.testing.assert_array_equal(run_clean(mod.two_loops, y), want)


def test_affine_select_keeps_its_mask(tmp_path):
    text, report = upgrade((FIXTURES / "legacy_affine_select_mask.py").read_text())
    assert not report.markers, report.markers
    assert "if k == 0:" in text
    mod = load(text, tmp_path)
    x = np.random.default_rng(5).standard_normal((128, 256)).astype(np.float32)
    want = x.copy()
    want[:, :128] = _band(x[:, :128], 0)
    np.testing.assert_array_equal(run_clean(mod.lower_first_block, x), want)
