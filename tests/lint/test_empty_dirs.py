"""A directory named on the command line that holds no Python file is named in a warning."""

from __future__ import annotations

from tests.lint.helpers import CUDA_CODE, findings, lint, write


def test_directory_without_python_files_is_named(tmp_path):
    write(tmp_path / "nopy" / "readme.txt", "cuda\n")
    result = lint("nopy", "--no-cache")
    assert result.exit_code == 0  # a warning alone, as in ruff
    assert "warning: nopy: no Python files found" in result.stderr
    assert "under the given path(s)" not in result.stderr  # the named warning replaces the vague one


def test_empty_directory_next_to_a_file_is_still_named(tmp_path):
    write(tmp_path / "nopy" / "readme.txt", "x\n")
    write(tmp_path / "pkg" / "m.py", CUDA_CODE)
    result = lint("nopy", "pkg/m.py", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("pkg/m.py:2:20", "NRN101")]
    assert result.stderr.count("warning:") == 1
    assert "warning: nopy: no Python files found" in result.stderr


def test_each_empty_directory_gets_its_warning(tmp_path):
    (tmp_path / "a").mkdir()
    write(tmp_path / "b" / "build" / "x.py", CUDA_CODE)  # only an excluded folder inside
    write(tmp_path / "c" / "ok.py", "x = 1\n")
    result = lint("a", "b", "c", "--no-cache")
    assert result.exit_code == 0
    assert "warning: a: no Python files found" in result.stderr
    assert "warning: b: no Python files found" in result.stderr
    assert "c:" not in result.stderr
    assert "All checks passed!" in result.stdout


def test_directory_whose_files_were_named_already_is_not_empty(tmp_path):
    write(tmp_path / "pkg" / "m.py", CUDA_CODE)
    result = lint("pkg/m.py", "pkg", "--no-cache")
    assert findings(result) == [("pkg/m.py:2:20", "NRN101")]
    assert "warning" not in result.stderr
