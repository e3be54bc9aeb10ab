"""`t = nl.loop_reduce(x, op, loop_indices, dtype=, mask=)` becomes `t = op(t, x, dtype=)`: the NKI docs
define loop_reduce as the destination tile being also the rhs input of `op`. A mask stays with the
statement (here it becomes an `if`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_loop_reduce.py"
RNG = np.random.default_rng(3)


def test_loop_reduce_folds_into_its_target(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers and "nl.loop_reduce(" not in text
    assert "total[1][:, :] = nl.add(total[1][:, :], part, dtype=nl.float32)" in text
    assert "if (j > 0) | (skip_first == 0):" in text and "best = nl.maximum(best, t)" in text
    mod = load(text, tmp_path)
    lhs_t = RNG.standard_normal((512, 64)).astype(np.float32)
    rhs = RNG.standard_normal((512, 32)).astype(np.float32)
    np.testing.assert_allclose(run_clean(mod.blocked_matmul, lhs_t, rhs), lhs_t.T @ rhs, rtol=1e-4, atol=1e-3)
    x = RNG.standard_normal((128, 256)).astype(np.float32)
    blocks = x.reshape(128, 4, 64)
    np.testing.assert_array_equal(run_clean(mod.running_max, x, 0), blocks.max(axis=1))
    np.testing.assert_array_equal(run_clean(mod.running_max, x, 1), blocks[:, 1:].max(axis=1))
