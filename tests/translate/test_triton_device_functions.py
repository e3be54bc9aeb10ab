"""Device functions are verified through a generated elementwise kernel; a run that writes nothing verifies
nothing. Needs torch and triton (the `triton` extra)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")

from pathlib import Path  # noqa: E402

from porter.translate.triton.device_check import wrapper_source  # noqa: E402
from porter.translate.triton.parse import parse_file  # noqa: E402
from porter.translate.triton.translate import translate_file  # noqa: E402
from porter.translate.triton.verify import UNCHECKED, VERIFIED, verify_file  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "device_ops.py"


@pytest.fixture(scope="module")
def reports():
    _, reps = verify_file(FIXTURE)
    return {r.name: r for r in reps}


def test_device_functions_verify_through_a_generated_kernel(reports):
    for name in ("softsign", "half_exp2_blend", "erf_gate"):
        r = reports[name]
        assert r.status == VERIFIED, f"{name}: {r.reason}"
        assert "generated kernel" in r.config_note
        assert {c.case for c in r.cases} == {"3x37", "129x160", "2x5000"} and all(c.ok for c in r.cases)
    assert "KEEP_A" in reports["half_exp2_blend"].config_note  # its constexpr got a value


def test_device_functions_get_no_entry_point_but_their_body():
    ft = translate_file(FIXTURE)
    assert "def _softsign_program(x)" in ft.source
    assert "def softsign(" not in ft.source and "softsign_launch" not in ft.source
    assert "_HALF_LOG2E = 0.72134752" in ft.source  # computed from math at translation time


def test_a_device_function_returning_several_values_is_not_claimed(reports):
    r = reports["min_and_max"]
    assert r.status == UNCHECKED and "several values" in r.reason


def test_a_kernel_that_writes_nothing_is_not_verified(reports):
    r = reports["stores_nothing_kernel"]
    assert r.status == UNCHECKED and "nothing to compare" in r.reason


def test_the_wrapper_loads_every_value_argument_and_passes_constexprs_through():
    k = next(k for k in parse_file(FIXTURE).kernels if k.name == "half_exp2_blend")
    src = wrapper_source(k)
    assert "half_exp2_blend(porter_a_0, porter_a_1, KEEP_A)" in src and "KEEP_A: tl.constexpr" in src


def test_a_wrong_device_function_translation_is_caught(monkeypatch):
    import porter.nki

    porter.nki.install_simulator()
    from porter.translate.triton import nki_tl, verify_worker
    from porter.translate.triton.device_check import verify_device_function

    ft = translate_file(FIXTURE)
    kt = next(kt for kt in ft.kernels if kt.name == "softsign")
    k = next(k for k in parse_file(FIXTURE).kernels if k.name == "softsign")
    orig = verify_worker._load("_porter_test_device_ops", FIXTURE)
    monkeypatch.setattr(nki_tl, "abs", lambda x: x * 1.0)  # |x| -> x: wrong for negative inputs
    bad = verify_device_function(k, kt, FIXTURE, orig, verify_worker._verify_kernel)
    assert bad.status.startswith("translated, failing") and "differ" in bad.reason


def test_a_check_kernel_the_interpreter_cannot_run_is_named_as_the_generated_one():
    """The check kernel loads 1-D blocks; a helper reducing along axis 1 needs 2-D ones. The interpreter's error
    is about porter's kernel, not the original (it read 'could not run the original')."""
    _, (r,) = verify_file(FIXTURE.with_name("device_2d_ops.py"))
    assert r.status == UNCHECKED
    assert r.reason.startswith("Triton's interpreter could not run the generated check kernel (one 1-D block per "
                               "argument): ")
    assert r.reason.endswith("it is checked through the kernels that call it")


def test_a_device_function_whose_callers_do_not_translate_is_checked_on_its_own():
    """attorch's 42 activation helpers are called only by apply_act_func, which calls a dropout (tl.rand): they got
    no verdict at all. Now each is verified through the generated kernel."""
    _, reports = verify_file(FIXTURE.with_name("device_orphan_ops.py"))
    r = {x.name: x for x in reports}
    assert r["noisy_squash_kernel"].status == "not translatable"
    assert r["squash"].status == VERIFIED, r["squash"].reason
