"""Triton -> NKI verification: every translated fixture kernel matches Triton's interpreter in the NKI simulator.

Needs torch and triton (the `triton` extra; CI installs it). The original runs with TRITON_INTERPRET=1.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")

from pathlib import Path  # noqa: E402

from porter.translate.triton.verify import NOT_TRANSLATED, VERIFIED, verify_file  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["flat_ops.py", "row_ops.py"])
def test_every_fixture_kernel_translates_and_verifies(name):
    ft, reports = verify_file(FIXTURES / name)
    assert [r.name for r in reports] == [k.name for k in ft.kernels]
    for r in reports:
        assert r.status == VERIFIED, f"{r.name}: {r.status}: {r.reason}"
        shapes = {c.case for c in r.cases}
        assert {"3x37", "129x160", "2x5000"} <= shapes  # ragged tail, > 128 rows, a row > 4096 elements
        assert {c.dtype for c in r.cases} == {"float32", "bfloat16"}
        assert all(c.ok for c in r.cases) and all(c.stats.get("instructions") for c in r.cases)


def test_tiled_matmul_translates_and_verifies_with_a_config_that_fits():
    _, (r,) = verify_file(FIXTURES / "matmul_ops.py")
    assert r.status == VERIFIED, r.reason
    assert r.mode == "program" and "config 2 of 2" in r.config_note
    assert {c.case for c in r.cases} == {"37x50x70", "130x96x160"} and all(c.ok for c in r.cases)


def test_untranslatable_kernels_are_reported_not_run():
    _, reports = verify_file(FIXTURES / "not_covered.py")
    assert [r.status for r in reports] == [NOT_TRANSLATED, NOT_TRANSLATED]
    assert "tl.atomic_add" in reports[0].reason and "NRN430" in reports[0].reason


def test_a_wrong_translation_is_caught(tmp_path, monkeypatch):
    """The check can fail: with the runtime's exp broken, the softmax translation is reported failing."""
    import porter.nki

    porter.nki.install_simulator()
    from porter.translate.triton import nki_tl, verify_worker
    from porter.translate.triton.parse import parse_file
    from porter.translate.triton.roles import infer_roles
    from porter.translate.triton.translate import translate_file

    path = FIXTURES / "row_ops.py"
    ft = translate_file(path)
    nki_file = tmp_path / "row_ops_nki.py"
    nki_file.write_text(ft.source)
    orig = verify_worker._load("_porter_test_orig_row_ops", path)
    nki_mod = verify_worker._load("_porter_test_nki_row_ops", nki_file)
    tf = parse_file(path)
    k = next(k for k in tf.kernels if k.name == "row_softmax_kernel")
    kt = next(kt for kt in ft.kernels if kt.name == k.name)
    good = verify_worker._verify_kernel(k, kt, infer_roles(tf, k), orig, nki_mod)
    assert good.status == VERIFIED
    monkeypatch.setattr(nki_tl, "exp", lambda x: x * 1.0)
    bad = verify_worker._verify_kernel(k, kt, infer_roles(tf, k), orig, nki_mod)
    assert bad.status.startswith("translated, failing") and "differ" in bad.reason


def test_scripts_that_need_a_gpu_at_import_keep_their_kernels_checkable():
    from porter.translate.triton.verify_worker import definitions_only

    src = (FIXTURES / "flat_ops.py").read_text() + "\nx = torch.randn(4, device='cuda')\nprint(x)\nN = 4\n"
    kept = definitions_only(src)
    assert "print(x)" not in kept
    assert "def scaled_sum_kernel" in kept and "N = 4" in kept and "@triton.jit" in kept
    namespace: dict = {}
    exec(compile(kept, "defs.py", "exec"), namespace)  # the CUDA tensor is skipped, not raised
    assert "scaled_sum_kernel" in namespace and namespace["N"] == 4 and "x" not in namespace


def test_long_blocks_are_split_over_partitions():
    """A block longer than WIDE_LANES runs on several partitions per program, so SBUF holds any block length."""
    import porter.nki

    porter.nki.install_simulator()
    from porter.translate.triton import nki_tl

    assert nki_tl.split_factor((64,)) == 1
    assert nki_tl.split_factor((8192,)) == 2  # the 2x5000 cases above (BLOCK 8192) run this way
    assert nki_tl.split_factor((262144,)) == 64
