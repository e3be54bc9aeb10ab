"""The real pre-commit, against this checkout, in a throwaway git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def hook_source(tmp_path_factory) -> Path:
    """try-repo needs a git repository whose HEAD holds the hook: commit the checkout's files."""
    src = tmp_path_factory.mktemp("porter-src")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("porter", "rules", "kernels", "docs/rules"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git(src, "init", "-q")
    git(src, "add", "-A")
    git(src, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "hook")
    return src


@pytest.fixture
def project(tmp_path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    return repo


def try_repo(hook_source: Path, project: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(project.parent / "pre-commit-home")}
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(hook_source), "porter-lint", *extra],
        cwd=project, capture_output=True, text=True, env=env, timeout=600,
    )


def test_hook_reports_only_the_staged_file(hook_source, project):
    (project / "bad.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    (project / "also_bad.py").write_text("import torch\ntorch.cuda.synchronize()\n")
    (project / "ok.py").write_text("import torch\nx = torch.zeros(1)\n")
    git(project, "add", "bad.py", "ok.py")
    result = try_repo(hook_source, project)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "bad.py:2:" in output and "NRN101" in output
    assert "also_bad.py" not in output


def test_hook_passes_with_no_files(hook_source, project):
    (project / "notes.txt").write_text("nothing to lint\n")
    git(project, "add", "notes.txt")
    result = try_repo(hook_source, project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hook_passes_on_clean_code(hook_source, project):
    (project / "ok.py").write_text("import torch\nx = torch.zeros(1).to(torch.accelerator.current_accelerator())\n")
    git(project, "add", "ok.py")
    result = try_repo(hook_source, project, "--all-files")
    assert result.returncode == 0, result.stdout + result.stderr
