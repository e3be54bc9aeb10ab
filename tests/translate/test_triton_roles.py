"""What the verifier reads from a kernel's body to synthesise its inputs (static) and that such kernels verify.
The verification tests need torch and triton (the `triton` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from porter.translate.triton.parse import parse_file
from porter.translate.triton.roles import BLOCK, COLS, POINTER, ROW_STRIDE, infer_roles

FIXTURE = Path(__file__).parent / "fixtures" / "roles_ops.py"


def _roles(name):
    tf = parse_file(FIXTURE)
    return infer_roles(tf, next(k for k in tf.kernels if k.name == name))


def test_a_constexpr_added_to_a_pointer_is_a_column_offset_not_a_tensor():
    r = _roles("halves_product_kernel")
    assert r.roles["y_ptr"] == POINTER and r.roles["HALF"] == COLS


def test_a_parameter_next_to_an_advanced_pointer_is_an_offset():
    r = _roles("row_minus_next_kernel")
    assert r.roles["x_ptr"] == POINTER and r.roles["stride"] == ROW_STRIDE


def test_a_constexpr_multiplied_by_the_program_id_is_a_stride_unless_it_sizes_a_block():
    r = _roles("fixed_stride_shift_kernel")
    assert r.roles["ROW_STRIDE"] == ROW_STRIDE and r.roles["BLOCK"] == BLOCK and not r.flat


def test_a_column_block_grid_with_a_row_loop_reads_both_axes():
    r = _roles("column_sums_kernel")
    assert r.axes == {0: "block", 1: "row"} and r.axis_blocks == {0: "BLOCK_N"}
    assert r.roles["N"] == COLS  # the row length (and row stride), not the tensor's size


def test_the_grid_covers_every_axis():
    pytest.importorskip("torch")
    import torch

    from porter.translate.triton.synth import row_case

    tf = parse_file(FIXTURE)
    k = next(k for k in tf.kernels if k.name == "column_sums_kernel")
    values, grid = row_case(k, infer_roles(tf, k), 129, 160, torch.float32, torch.Generator().manual_seed(0), {})
    assert grid == (1, 2)  # one 256-lane block covers a 160-column row; axis 1 (rows, looping) gets 2


def test_constexprs_without_a_hint_get_a_value_from_their_use():
    from porter.translate.triton.synth import flag_value

    k = next(k for k in parse_file(FIXTURE).kernels if k.name == "batched_skip_kernel")
    assert flag_value(k, "skip_label") == -100  # compared with loaded data: a value no data takes
    assert flag_value(k, "GROUP") == 1  # a divisor: the plain case
    unused = next(k for k in parse_file(FIXTURE).kernels if k.name == "fixed_stride_shift_kernel")
    assert flag_value(unused, "UNUSED") == 1  # never read: any value will do


def test_an_axis_that_only_scales_a_stride_gets_one_program():
    pytest.importorskip("torch")
    import torch

    from porter.translate.triton.synth import row_case

    tf = parse_file(FIXTURE)
    k = next(k for k in tf.kernels if k.name == "batched_skip_kernel")
    r = infer_roles(tf, k)
    assert r.axes == {0: "row", 1: "row"} and r.bounded_axes == set()
    _, grid = row_case(k, r, 129, 160, torch.float32, torch.Generator().manual_seed(0), {})
    assert grid == (129, 1)


def test_these_kernels_verify():
    os.environ.setdefault("TRITON_INTERPRET", "1")
    pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
    pytest.importorskip("triton", reason="verification needs triton==3.9.0")
    from porter.translate.triton.verify import VERIFIED, verify_file

    _, reports = verify_file(FIXTURE)
    assert [(r.name, r.status) for r in reports] == [(r.name, VERIFIED) for r in reports], \
        [(r.name, r.reason) for r in reports]
    assert len(reports) == 6
