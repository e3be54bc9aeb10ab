"""Finding the files: suffixes, default excludes, .gitignore, --force-exclude, symlinks, permissions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from porter.cli import app
from porter.config import DEFAULT_EXCLUDE
from tests.lint.helpers import CUDA_CODE, codes, findings, lint, write


def files_reported(result) -> list[str]:
    return sorted({loc.split(":")[0] for loc, _ in findings(result)})


def test_checks_py_pyi_and_ipynb_only(tmp_path):
    import json

    write(tmp_path / "a.py", CUDA_CODE)
    write(tmp_path / "b.pyi", "import torch\ndef f() -> None: ...\nx = torch.zeros(1).cuda()\n")
    write(tmp_path / "c.txt", CUDA_CODE)
    write(tmp_path / "d.pyx", CUDA_CODE)
    write(tmp_path / "noext", CUDA_CODE)
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": CUDA_CODE}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "e.ipynb", json.dumps(nb))
    assert files_reported(lint(".", "--no-cache")) == ["a.py", "b.pyi", "e.ipynb"]


def test_explicit_file_with_other_suffix_is_checked(tmp_path):
    # like ruff: a file named on the command line is checked whatever its suffix
    write(tmp_path / "script", CUDA_CODE)
    assert codes(lint("script", "--no-cache")) == ["NRN101"]


@pytest.mark.parametrize("folder", [".venv", "venv", "build", "dist", "__pycache__", "node_modules",
                                    "site-packages", ".git", ".tox", ".porter_cache"])
def test_default_excluded_folders(tmp_path, folder):
    assert folder in DEFAULT_EXCLUDE
    write(tmp_path / folder / "a.py", CUDA_CODE)
    write(tmp_path / "pkg" / folder / "deep.py", CUDA_CODE)
    write(tmp_path / "src" / "a.py", CUDA_CODE)
    assert files_reported(lint(".", "--no-cache")) == ["src/a.py"]


def test_every_default_exclude_is_skipped(tmp_path):
    for folder in DEFAULT_EXCLUDE:
        write(tmp_path / folder / "a.py", CUDA_CODE)
    write(tmp_path / "keep" / "a.py", CUDA_CODE)
    assert files_reported(lint(".", "--no-cache")) == ["keep/a.py"]


def test_excluded_folder_given_as_the_root_is_walked(tmp_path):
    # excludes apply to what is found below the paths given, not to the paths themselves
    write(tmp_path / "build" / "a.py", CUDA_CODE)
    assert files_reported(lint("build", "--no-cache")) == ["build/a.py"]


def test_gitignore_respected(tmp_path):
    write(tmp_path / ".gitignore", "generated/\n*_gen.py\n!keep_gen.py\n")
    write(tmp_path / "generated" / "a.py", CUDA_CODE)
    write(tmp_path / "src" / "x_gen.py", CUDA_CODE)
    write(tmp_path / "src" / "keep_gen.py", CUDA_CODE)
    write(tmp_path / "src" / "a.py", CUDA_CODE)
    assert files_reported(lint(".", "--no-cache")) == ["src/a.py", "src/keep_gen.py"]


def test_nested_gitignore_is_relative_to_its_folder(tmp_path):
    write(tmp_path / "pkg" / ".gitignore", "/local.py\n")
    write(tmp_path / "pkg" / "local.py", CUDA_CODE)
    write(tmp_path / "pkg" / "sub" / "local.py", CUDA_CODE)
    write(tmp_path / "local.py", CUDA_CODE)
    assert files_reported(lint(".", "--no-cache")) == ["local.py", "pkg/sub/local.py"]


def test_explicit_excluded_file_is_checked_without_force_exclude(tmp_path):
    write(tmp_path / "build" / "a.py", CUDA_CODE)
    result = lint("build/a.py", "--no-cache")
    assert files_reported(result) == ["build/a.py"]


def test_force_exclude_applies_to_explicit_files(tmp_path):
    write(tmp_path / "build" / "a.py", CUDA_CODE)
    write(tmp_path / "src" / "a.py", CUDA_CODE)
    result = lint("build/a.py", "src/a.py", "--no-cache", "--force-exclude")
    assert files_reported(result) == ["src/a.py"]


def test_force_exclude_with_config_exclude(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.porter]\nextend-exclude = ["legacy"]\n')
    write(tmp_path / "legacy" / "old.py", CUDA_CODE)
    assert files_reported(lint("legacy/old.py", "--no-cache")) == ["legacy/old.py"]
    result = lint("legacy/old.py", "--no-cache", "--force-exclude")
    assert result.exit_code == 0
    assert findings(result) == []


def test_force_exclude_by_file_glob(tmp_path):
    write(tmp_path / "x_pb2.py", CUDA_CODE)
    result = lint("x_pb2.py", "--no-cache", "--force-exclude", "--extend-exclude", "*_pb2.py")
    assert findings(result) == []


def test_symlink_loop_is_reported_not_followed(tmp_path):
    write(tmp_path / "pkg" / "a.py", CUDA_CODE)
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    # in a subprocess with a timeout, so a hang fails the test instead of blocking the suite
    proc = subprocess.run([sys.executable, "-m", "porter", "lint", "--no-cache", "."], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("pkg/loop:1:1: NRN005 ") and "symlink loop" in line for line in lines), lines
    assert sum("NRN101" in line for line in lines) == 1


def test_self_referencing_symlink_given_explicitly(tmp_path):
    os.symlink("self.py", tmp_path / "self.py")
    result = lint("self.py", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("self.py:1:1", "NRN005")]
    assert "symlink loop" in result.stdout


def test_self_referencing_symlink_inside_a_walked_folder(tmp_path):
    # `self -> self`: is_file() raises ELOOP; lint and port go on and name it
    write(tmp_path / "a.py", CUDA_CODE)
    os.symlink("self", tmp_path / "self")
    os.symlink("loop.py", tmp_path / "loop.py")
    result = lint(".", "--no-cache")
    assert result.exit_code == 1, result.output
    assert findings(result) == [("a.py:2:20", "NRN101"), ("loop.py:1:1", "NRN005"), ("self:1:1", "NRN005")]
    ported = CliRunner().invoke(app, ["port", ".", "--diff", "--no-cache"])
    assert ported.exit_code == 1 and "+++ b/a.py" in ported.stdout, ported.output


def test_broken_symlink_is_reported(tmp_path):
    os.symlink(tmp_path / "gone.py", tmp_path / "dangling.py")
    result = lint(".", "--no-cache")
    assert findings(result) == [("dangling.py:1:1", "NRN005")]
    assert "broken symlink" in result.stdout


def test_symlinked_folder_inside_the_tree_is_followed(tmp_path):
    # discovery.py: symlinked directories are followed while they stay inside the tree; a file
    # reached under two names is checked once, under its real name
    write(tmp_path / "real" / "a.py", CUDA_CODE)
    os.symlink(tmp_path / "real", tmp_path / "alias")
    result = lint(".", "--no-cache")
    assert files_reported(result) == ["real/a.py"]


def test_file_only_reachable_through_a_symlinked_folder_is_checked(tmp_path):
    write(tmp_path / "tree" / "main.py", "x = 1\n")
    write(tmp_path / "tree" / "real" / "a.py", CUDA_CODE)
    os.symlink(tmp_path / "tree" / "real", tmp_path / "tree" / "alias")
    result = lint("tree/alias", "--no-cache")
    assert files_reported(result) == ["tree/alias/a.py"]


def test_symlink_out_of_the_tree_is_not_followed(tmp_path):
    write(tmp_path / "outside" / "a.py", CUDA_CODE)
    write(tmp_path / "tree" / "b.py", CUDA_CODE)
    os.symlink(tmp_path / "outside", tmp_path / "tree" / "ext")
    result = lint("tree", "--no-cache")
    assert files_reported(result) == ["tree/b.py"]


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(_running_as_root(), reason="root can read a chmod 000 file")
def test_unreadable_file_is_nrn005(tmp_path):
    bad = write(tmp_path / "secret.py", CUDA_CODE)
    write(tmp_path / "ok.py", CUDA_CODE)
    bad.chmod(0)
    try:
        result = lint(".", "--no-cache")
    finally:
        bad.chmod(0o644)
    assert result.exit_code == 1
    assert findings(result) == [("ok.py:2:20", "NRN101"), ("secret.py:1:1", "NRN005")]
    assert "cannot read" in result.stdout


@pytest.mark.skipif(_running_as_root(), reason="root can list a chmod 000 folder")
def test_unreadable_folder_is_nrn005(tmp_path):
    locked = tmp_path / "locked"
    write(locked / "a.py", CUDA_CODE)
    locked.chmod(0)
    try:
        result = lint(".", "--no-cache")
    finally:
        locked.chmod(0o755)
    assert findings(result) == [("locked:1:1", "NRN005")]


def test_unreadable_file_simulated(tmp_path, monkeypatch):
    """Runs as root too: the read fails with EACCES, whoever we are."""
    import builtins

    bad = write(tmp_path / "secret.py", CUDA_CODE)
    write(tmp_path / "ok.py", CUDA_CODE)
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if str(file).endswith("secret.py"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    result = lint(".", "--no-cache", "--jobs", "1")
    assert bad.exists()
    assert findings(result) == [("ok.py:2:20", "NRN101"), ("secret.py:1:1", "NRN005")]
    assert "Permission denied" in result.stdout


def test_unreadable_folder_simulated(tmp_path, monkeypatch):
    """Runs as root too: listing one folder fails with EACCES; the rest of the tree is checked."""
    import porter.source.discovery as discovery

    write(tmp_path / "locked" / "a.py", CUDA_CODE)
    write(tmp_path / "open" / "a.py", CUDA_CODE)
    real_scandir = os.scandir

    def fake_scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(discovery.os, "scandir", fake_scandir)
    result = lint(".", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("locked:1:1", "NRN005"), ("open/a.py:2:20", "NRN101")]
    assert "cannot list directory" in result.stdout
