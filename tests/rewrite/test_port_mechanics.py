"""`porter port` mechanics on a fixture catalogue: golden output, idempotence, modes, safety."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from porter.cli import app
from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex

FIXTURES = Path(__file__).parent.parent / "fixtures"
RULES = FIXTURES / "rules" / "port_rules.toml"
runner = CliRunner()


def catalogue_and_index():
    catalogue = load_catalogue([RULES], builtin=False)
    rules = [r for r in catalogue if r.id in {"NRN901", "NRN904", "NRN905", "NRN923", "NRN941", "NRN951"}]
    return catalogue, RuleIndex.build(rules)


def port_text(text: str) -> str:
    catalogue, index = catalogue_and_index()
    result = port_source(text, "train.py", index, catalogue, "neuron")
    assert result.error is None
    return result.ported


def test_golden_output():
    source = (FIXTURES / "port" / "train.py").read_text()
    assert port_text(source) == (FIXTURES / "port" / "train.neuron.py").read_text()


def test_second_port_is_a_no_op():
    golden = (FIXTURES / "port" / "train.neuron.py").read_text()
    assert port_text(golden) == golden


def test_ported_device_code_runs_on_cpu():
    torch = pytest.importorskip("torch")
    code = port_text('import torch\nx = torch.ones(2, device="cuda").cuda(0)\ntorch.cuda.synchronize()\n')
    scope: dict = {}
    exec(compile(code, "ported.py", "exec"), scope)
    assert scope["x"].device == torch.device("cpu")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy(RULES, root / "rules.toml")
    (root / "pyproject.toml").write_text('[tool.porter]\nrule-paths = ["rules.toml"]\nselect = ["NRN9"]\n')
    shutil.copy(FIXTURES / "port" / "train.py", root / "train.py")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / "broken.py").write_text("import torch\nx = torch.zeros(1).cuda(\n")
    (root / "clean.py").write_text("import torch\nx = torch.zeros(1)\n")
    return root


def test_out_copies_the_tree(project, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["port", str(project), "--out", str(out), "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 1, result.output  # broken.py is a problem: exit 1, everything else written
    assert (out / "train.py").read_text() == (FIXTURES / "port" / "train.neuron.py").read_text()
    assert (out / "data.bin").read_bytes() == (project / "data.bin").read_bytes()
    # an unparsable file is copied unchanged and reported
    assert (out / "broken.py").read_text() == (project / "broken.py").read_text()
    assert "broken.py" in result.output
    assert (out / "clean.py").read_text() == (project / "clean.py").read_text()
    report = json.loads((tmp_path / "r.json").read_text())
    # broken.py could not be ported: work left, so the effort is medium, not train.py's low
    assert report["files_changed"] == 1 and report["marked"] == 1 and report["effort"] == "medium"
    assert [(Path(m["file"]).name, m["line"], m["effort"]) for m in report["manual"]] == [
        ("broken.py", 1, "medium"), ("train.py", 13, "low")]
    assert any(p["file"].endswith("broken.py") for p in report["problems"])


def test_out_refuses_a_folder_inside_the_tree(project):
    result = runner.invoke(app, ["port", str(project), "--out", str(project / "ported")])
    assert result.exit_code == 2


def test_diff_and_check_write_nothing(project):
    before = (project / "train.py").read_text()
    diff = runner.invoke(app, ["port", str(project), "--diff"])
    assert diff.exit_code == 1  # broken.py cannot be ported: a problem
    (project / "broken.py").unlink()
    diff = runner.invoke(app, ["port", str(project), "--diff"])
    assert diff.exit_code == 1  # as in ruff: a diff with changes exits 1
    assert "+    model = model.to(_porter_device())  # keep this comment" in diff.output
    check = runner.invoke(app, ["port", str(project), "--check"])
    assert check.exit_code == 1
    assert (project / "train.py").read_text() == before


def test_report_only_prints_the_analysis(project):
    (project / "broken.py").unlink()
    result = runner.invoke(app, ["port", str(project), "--report-only"])
    assert result.exit_code == 0
    assert "| effort left | **low** |" in result.output
    assert "`" + str(project / "train.py") + ":13`" in result.output


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_in_place_refuses_a_dirty_git_tree(project):
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "x")
    (project / "train.py").write_text((project / "train.py").read_text() + "# edit\n")
    refused = runner.invoke(app, ["port", str(project), "--in-place"])
    assert refused.exit_code == 2 and "uncommitted" in refused.output
    forced = runner.invoke(app, ["port", str(project), "--in-place", "--force"])
    assert forced.exit_code == 1 and "broken.py" in forced.output  # written, but broken.py is a problem
    assert "_porter_device" in (project / "train.py").read_text()
    again = runner.invoke(app, ["port", str(project), "--check"])
    assert again.exit_code == 1 and "broken.py" in again.output  # nothing to change, but a problem
    (project / "broken.py").unlink()
    again = runner.invoke(app, ["port", str(project), "--check"])
    assert again.exit_code == 0


def test_symlinks_are_never_followed_out_of_the_tree(project, tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("import torch\nx = torch.zeros(1).cuda()\n")
    os.symlink(outside, project / "link.py")
    runner.invoke(app, ["port", str(project), "--in-place", "--force"])
    assert outside.read_text() == "import torch\nx = torch.zeros(1).cuda()\n"
    out = tmp_path / "out"
    result = runner.invoke(app, ["port", str(project), "--out", str(out)])
    assert not (out / "link.py").exists()
    assert "outside the tree" in result.output


def test_lint_fix_applies_safe_fixes(project):
    result = runner.invoke(app, ["lint", str(project / "train.py"), "--fix", "--no-cache"])
    assert "_porter_device" in (project / "train.py").read_text()
    # what is left is the marked flash-attn use and its guarded import: acknowledged, so lint passes
    assert result.exit_code == 0, result.output
    assert "NRN941 [marked]" in result.output and "NRN901" not in result.output
    strict = runner.invoke(app, ["lint", str(project / "train.py"), "--strict-markers", "--no-cache"])
    assert strict.exit_code == 1


def test_lint_fix_names_a_file_it_could_not_write(tmp_path, monkeypatch):
    from porter.rewrite import tree_port

    (tmp_path / "a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")

    def refuse(path, data, mode_from=None):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tree_port, "atomic_write", refuse)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lint", "a.py", "--fix", "--no-cache"])
    assert "a.py: not fixed: cannot write (Permission denied)" in result.output
    assert result.exit_code == 1 and "NRN101" in result.output  # the finding is still there
    assert (tmp_path / "a.py").read_text() == "import torch\nx = torch.zeros(1).cuda()\n"
