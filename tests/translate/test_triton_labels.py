"""Labels: a pointer whose loaded values are compared with the columns (`cols == label`) holds column
indices, synthesised as such; the one-hot then verifies on every shape, a row split over partitions too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from porter.translate.triton.parse import parse_file
from porter.translate.triton.roles import infer_roles

FIXTURES = Path(__file__).parent / "fixtures"


def _kernel(name: str, file: str = "onehot_ops.py"):
    tf = parse_file(FIXTURES / file)
    k = next(k for k in tf.kernels if k.name == name)
    return k, infer_roles(tf, k)


def test_a_pointer_compared_with_the_columns_holds_labels():
    _, roles = _kernel("onehot_grad_kernel")
    assert roles.label_pointers == {"label_ptr"}
    _, roles = _kernel("row_softmax_kernel", "row_ops.py")  # compares columns only with a count
    assert roles.label_pointers == set()


def test_labels_are_synthesised_as_column_indices():
    torch = pytest.importorskip("torch", reason="synthesis needs torch (the runtime extra)")
    from porter.translate.triton.synth import row_case

    k, roles = _kernel("onehot_grad_kernel")
    values, _ = row_case(k, roles, 3, 37, torch.float32, torch.Generator().manual_seed(0), {})
    labels = values[k.params.index("label_ptr")]
    assert labels.dtype == torch.int32 and 0 <= int(labels.min()) and int(labels.max()) < 37
    assert values[k.params.index("p_ptr")].dtype == torch.float32


def test_the_one_hot_verifies_with_rows_split_over_partitions():
    os.environ.setdefault("TRITON_INTERPRET", "1")
    pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
    pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")
    from porter.translate.triton.verify import VERIFIED, verify_file

    _, (report,) = verify_file(FIXTURES / "onehot_ops.py")
    assert report.status == VERIFIED, report.reason
    assert {c.case for c in report.cases} == {"3x37", "129x160", "2x5000"}  # 2x5000: a row over 2 partitions
    assert all(c.ok for c in report.cases) and not report.reason  # the elementwise check alone
