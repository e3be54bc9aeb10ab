"""The bf16 verdict of `porter kernels verify`: a translation that differs from the fp32 reference only
where bf16 rounding moves a value across a threshold passes; a bf16 result that is wrong does not."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
torch = pytest.importorskip("torch", reason="the bf16 verdict needs torch (the runtime extra)")

from pathlib import Path  # noqa: E402

from porter.translate.triton.bf16_verdict import MAX_RATIO, Bf16Case, judge  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
N = 4096


def _step(args: list) -> None:
    """The reference, in place: w -= lr where m * 0.5 + g > 0, else w += lr (a threshold on a sum)."""
    w, g, m = args
    w -= torch.where(m * 0.5 + g > 0, 0.5, -0.5)


def _case(candidate_error=None, outside: int = 0) -> Bf16Case:
    gen = torch.Generator().manual_seed(3)
    values = [torch.randn(N, generator=gen).bfloat16().float() for _ in range(3)]
    reference = [v.clone() for v in values]
    _step(reference)
    candidate = [v.clone() for v in reference]
    if candidate_error is not None:
        candidate[0] += candidate_error
    return Bf16Case(values, reference, candidate, outside, _step)


def test_a_few_elements_across_the_threshold_pass():
    flipped = torch.zeros(N)
    flipped[:3] = 1.0  # three steps taken the other way: the size of the reference's own flips
    passed, found = judge([_case(flipped, outside=3)], torch.Generator().manual_seed(0))
    assert passed, found
    assert "3 of 4096 written elements" in found


def test_a_few_elements_wrong_by_more_than_a_step_fail_on_the_ratio():
    wrong = torch.zeros(N)
    wrong[:3] = 40.0  # as few as the flips, but no rounding of an input explains them
    passed, found = judge([_case(wrong, outside=3)], torch.Generator().manual_seed(0))
    assert not passed
    ratio = float(found.split("error ratio ")[1].split()[0])
    assert ratio > MAX_RATIO


def test_too_many_elements_outside_the_tolerance_fail_even_at_a_small_ratio():
    passed, found = judge([_case(outside=40)], torch.Generator().manual_seed(0))  # 1% of the elements
    assert not passed and "40 of 4096" in found


def test_a_nan_the_reference_does_not_have_fails():
    error = torch.zeros(N)
    error[7] = float("nan")
    passed, found = judge([_case(error, outside=1)], torch.Generator().manual_seed(0))
    assert not passed and "NaN" in found


def test_a_threshold_kernel_verifies_through_the_verdict():
    pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")
    from porter.translate.triton.verify import TOLERANCE, VERIFIED, verify_file

    _, (report,) = verify_file(FIXTURES / "threshold_ops.py")
    assert report.status == VERIFIED, report.reason
    assert "outside the elementwise tolerance" in report.reason and "error ratio" in report.reason
    fp32 = [c for c in report.cases if c.dtype == "float32"]
    assert fp32 and all(c.ok and c.max_abs_error <= TOLERANCE["float32"][1] for c in fp32)
    # the elementwise check alone would have failed it: a step taken the other way
    assert max(c.max_abs_error for c in report.cases if c.dtype == "bfloat16") > 0.5


def test_an_overflow_fails_and_says_so():
    overflow = torch.zeros(N)
    overflow[:2] = float("inf")  # the candidate overflowed where the reference is finite
    passed, found = judge([_case(overflow, outside=2)], torch.Generator().manual_seed(0))
    assert not passed and "infinity" in found


def test_a_reference_that_overflows_under_the_perturbation_gives_no_ratio():
    def overflowing(args: list) -> None:  # a reference whose result is infinite once its inputs move
        w, g, m = args
        w.copy_(torch.where(g != g.bfloat16().float(), float("inf"), w))

    case = _case(outside=1)
    case.run_reference = overflowing
    passed, found = judge([case], torch.Generator().manual_seed(0))
    assert not passed and "overflows" in found
