"""`nl.finfo(x.dtype).min` (a dtype held in a variable) becomes a lookup in the same float-limit table
the literal case uses, done while the kernel is specialised; an unknown dtype raises."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from .helpers import load, run_clean, upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_finfo_of_a_variable.py"


def test_finfo_of_a_variable_dtype(tmp_path):
    text, report = upgrade(FIXTURE.read_text())
    assert not report.markers and "_porter_float_limit(x.dtype, 'min')" in text
    mod = load(text, tmp_path)
    for dtype in (np.float32, ml_dtypes.bfloat16, np.float16):
        x = np.ones((4, 3), dtype)
        got = run_clean(mod.pad_min, x)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got[:, 1:4].astype(np.float32), 1.0)
        assert float(got[0, 0]) == float(ml_dtypes.finfo(dtype).min)  # the padding holds the dtype's min
    with pytest.raises(ValueError, match="nl.finfo of"):
        mod._porter_float_limit("int8", "min")
