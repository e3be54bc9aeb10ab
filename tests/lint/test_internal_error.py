"""A crash inside a rule is NRN003 for that file, the run goes on, and the exit code is 2."""

from __future__ import annotations

import json

import pytest

import porter.source.predicates as predicates
from tests.lint.helpers import CUDA_CODE, codes, findings, lint, write

NCCL_CODE = 'import torch.distributed as dist\ndist.init_process_group("nccl")\n'


@pytest.fixture
def broken_predicates(monkeypatch):
    """Every value predicate raises, as a bug in one would."""

    def boom(node, scope):
        raise ZeroDivisionError("boom")

    for name in list(predicates.PREDICATES):
        monkeypatch.setitem(predicates.PREDICATES, name, boom)


def _project(tmp_path):
    write(tmp_path / "a.py", NCCL_CODE + "x = __import__('torch').zeros(2).cuda()\n")
    write(tmp_path / "b.py", CUDA_CODE)


def test_internal_error_exits_2_and_reports_everything_else(tmp_path, broken_predicates):
    _project(tmp_path)
    result = lint(".", "--no-cache", "-j", "1")
    assert result.exit_code == 2
    assert "NRN003" in codes(result)
    assert ("b.py:2:20", "NRN101") in findings(result)  # the other files and rules still ran
    assert "a.py:3:" in result.stdout                     # so did the other rules on the crashing file
    assert "internal error in rule" in result.stdout
    assert "internal error while checking 1 file(s)" in result.stderr


def test_internal_error_exits_2_even_with_exit_zero(tmp_path, broken_predicates):
    _project(tmp_path)
    result = lint(".", "--no-cache", "-j", "1", "--exit-zero", "--output-format", "json")
    assert result.exit_code == 2
    records = json.loads(result.stdout)  # the report itself is complete and well-formed
    assert {r["code"] for r in records} >= {"NRN003", "NRN101"}


def test_internal_error_is_not_cached(tmp_path, monkeypatch):
    _project(tmp_path)
    cache = tmp_path / "cache"

    def boom(node, scope):
        raise ZeroDivisionError("boom")

    with monkeypatch.context() as patch:
        for name in list(predicates.PREDICATES):
            patch.setitem(predicates.PREDICATES, name, boom)
        assert lint(".", "--cache-dir", cache, "-j", "1").exit_code == 2
    # the bug is gone: the next run checks the file again instead of replaying the crash
    result = lint(".", "--cache-dir", cache, "-j", "1")
    assert result.exit_code == 1
    assert "NRN003" not in codes(result)
    assert "NRN301" in codes(result)


def test_no_internal_error_keeps_exit_zero(tmp_path):
    _project(tmp_path)
    assert lint(".", "--no-cache", "--exit-zero").exit_code == 0


def test_ignoring_nrn003_explicitly_hides_it_and_its_exit_code(tmp_path, broken_predicates):
    _project(tmp_path)
    result = lint(".", "--no-cache", "-j", "1", "--ignore", "NRN003")
    assert result.exit_code == 1
    assert "NRN003" not in codes(result)
    assert ("b.py:2:20", "NRN101") in findings(result)
