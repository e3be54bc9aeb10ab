"""Loads whose masked lanes take a value computed in the kernel. Needs torch and triton (the `triton` extra)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")

from pathlib import Path  # noqa: E402

from porter.translate.triton.verify import VERIFIED, verify_file  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "load_ops.py"


def test_a_per_row_other_fills_the_masked_lanes():
    _, (r, _) = verify_file(FIXTURE)
    assert r.status == VERIFIED, r.reason
    # 2x5000: the 8192-lane block is split over partitions, the per-row value follows it
    assert {c.case for c in r.cases} == {"3x37", "129x160", "2x5000"} and all(c.ok for c in r.cases)


def test_a_dtype_call_starts_a_running_value():
    """`tl.float32(x)`: Triton's compiler casts; its interpreter needs a shim, the translation a cast."""
    from porter.translate.triton.translate import translate_file

    scalar = Path(__file__).parent / "fixtures" / "scalar_ops.py"
    assert "_tl.cast(-float('inf'), _tl.float32)" in translate_file(scalar).source
    _, (r,) = verify_file(scalar)
    assert r.status == VERIFIED, r.reason


def test_a_per_row_scalar_reaches_every_partition_of_a_split_row():
    """With 5000 columns a row's block is split over two partitions; a scalar loaded once per row (a norm's
    rstd) must reach both, not only the first (the second read 0 and its columns came out wrong)."""
    _, (_, r) = verify_file(FIXTURE)
    assert r.name == "scale_by_row_factor_kernel" and r.status == VERIFIED, r.reason
    assert any(c.case == "2x5000" and c.ok for c in r.cases)
