"""A legacy affine_select predicate held in a name (`causal = q_pos >= i_k`) is translated like an
inline one, and a PSUM on_true_tile is copied to SBUF first (affine_select runs on GpSimd, which
cannot read PSUM; the legacy compiler inserted that copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_named_predicate.py"


def test_named_predicate_and_psum_operand(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers, report.markers
    assert "= nl.copy(scores)" in text and "channel_multiplier=1" in text
    assert "mgrid" not in text and "causal =" not in text
    mod = load(text, tmp_path)
    rng = np.random.default_rng(5)
    q_t = rng.standard_normal((64, 128)).astype(np.float32)
    k_t = rng.standard_normal((64, 128)).astype(np.float32)
    for row0 in (0, 40):
        want = q_t.T @ k_t
        want[np.arange(128)[None, :] > row0 + np.arange(128)[:, None]] = -1e4
        np.testing.assert_allclose(run_clean(mod.causal_scores, q_t, k_t, row0), want, rtol=1e-4, atol=1e-3)
