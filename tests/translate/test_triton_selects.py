"""`a if test else b` in a kernel: a test on loaded data selects lane by lane; one known at trace time
evaluates one side."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from porter.translate.triton.translate import translate_file

FIXTURES = Path(__file__).parent / "fixtures"


def _verifier_inputs(file: str, param: str):
    """(rows, cols, the tensor of `param`) for each shape, as the verifier synthesises them: its seed, its
    shapes in its order (needs torch and triton; skipped without them)."""
    os.environ.setdefault("TRITON_INTERPRET", "1")
    torch = pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
    pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")
    from porter.translate.triton.parse import parse_file
    from porter.translate.triton.roles import infer_roles
    from porter.translate.triton.synth import ROW_SHAPES, row_case

    tf = parse_file(FIXTURES / file)
    k = tf.kernels[0]
    gen = torch.Generator().manual_seed(0)
    for rows, cols in ROW_SHAPES:
        values, _ = row_case(k, infer_roles(tf, k), rows, cols, torch.float32, gen, {})
        yield rows, cols, values[k.params.index(param)]


def test_conditional_expressions_become_selects():
    ft = translate_file(FIXTURES / "select_ops.py")
    assert ft.source is not None and ft.source.count("_tl.choose(") == 2
    assert "lambda: 2.5" in ft.source  # each side evaluated only where the test needs it


def test_a_select_on_loaded_data_verifies_with_rows_on_both_sides():
    # the rows the verifier synthesises fall on both sides of the test
    sides = set()
    for rows, cols, x in _verifier_inputs("select_ops.py", "x_ptr"):
        sides |= set((x.flatten()[: rows * cols].view(rows, cols).abs().amax(dim=1) < 2.5).tolist())
    assert sides == {True, False}
    from porter.translate.triton.verify import VERIFIED, verify_file

    _, (report,) = verify_file(FIXTURES / "select_ops.py")
    assert report.status == VERIFIED, report.reason
    assert all(c.ok for c in report.cases) and not report.reason


def test_if_statements_become_branches_and_bare_returns_retire():
    ft = translate_file(FIXTURES / "branch_ops.py")
    assert ft.source is not None
    assert ft.source.count("in _tl.branches(") == 2 and "if _tl.retire():" in ft.source


def test_a_loop_jump_inside_an_if_keeps_the_plain_test():
    src = ("import triton\nimport triton.language as tl\n\n\n@triton.jit\ndef k(x_ptr, n, BLOCK: tl.constexpr):\n"
           "    for i in range(0, n, BLOCK):\n        if i > 64:\n            break\n"
           "        tl.store(x_ptr + i + tl.arange(0, BLOCK), 0.0)\n")
    from porter.translate.triton.translate import translate_source

    source = translate_source(src, Path("k.py")).source
    assert "_tl.cond(i > 64)" in source and "_tl.branches(" not in source  # a `for` around it would catch it


def test_a_value_returned_from_one_side_keeps_the_plain_test():
    src = ("import triton\nimport triton.language as tl\n\n\n@triton.jit\ndef clipped(x):\n"
           "    if x > 0:\n        return x\n    return 0.0 * x\n")
    from porter.translate.triton.translate import translate_source

    source = translate_source(src, Path("k.py")).source
    assert "_tl.cond(x > 0)" in source and "_tl.branches(" not in source  # on loaded data: raises, not a wrong side


def test_a_branch_on_loaded_data_with_an_early_return_verifies_with_rows_on_both_sides():
    # the verifier's inputs: flagged and unflagged rows side by side in a tile
    flagged = {rows: set((flags.flatten()[:rows] < 0).tolist())
               for rows, _, flags in _verifier_inputs("branch_ops.py", "flag_ptr")}
    assert flagged[129] == {True, False}
    from porter.translate.triton.verify import VERIFIED, verify_file

    _, (report,) = verify_file(FIXTURES / "branch_ops.py")
    assert report.status == VERIFIED, report.reason
    assert all(c.ok for c in report.cases) and not report.reason
