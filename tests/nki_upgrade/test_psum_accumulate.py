"""`acc += nisa.nc_matmul(...)` onto a PSUM tile allocated without a value is the legacy accumulation
group (its first matmul overwrites): the upgrade leaves nc_matmul's group default instead of
`accumulate=True`, which would add onto uninitialised PSUM (NaN on the simulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_psum_accumulate.py"


def test_accumulation_onto_an_uninitialised_psum_tile(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers
    assert "nisa.nc_matmul(dst=acc," in text and "accumulate=True" not in text
    mod = load(text, tmp_path)
    rng = np.random.default_rng(2)
    lhs_t = rng.standard_normal((384, 64)).astype(np.float32)
    rhs = rng.standard_normal((384, 96)).astype(np.float32)
    np.testing.assert_allclose(run_clean(mod.matmul_acc, lhs_t, rhs), lhs_t.T @ rhs, rtol=1e-4, atol=1e-3)
