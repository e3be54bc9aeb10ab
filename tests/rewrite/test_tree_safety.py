"""A write that fails for one file is reported for that file; the other files are still written."""

from __future__ import annotations

import os
from pathlib import Path

from porter.config import Overrides
from porter.rewrite import tree_port
from porter.rewrite.tree_port import PortOptions, port_tree


def test_one_failing_write_does_not_stop_the_others(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("a.py", "b.py", "c.py"):
        (root / name).write_text("import torch\nx = torch.zeros(1).cuda()\n")
    real = tree_port.atomic_write

    def failing(path: Path, data: bytes, mode_from=None, durable=True, made=None):
        if path.name == "b.py":
            raise PermissionError(13, "Permission denied")
        real(path, data, mode_from=mode_from)

    monkeypatch.setattr(tree_port, "atomic_write", failing)
    out = tmp_path / "out"
    result = port_tree(root, PortOptions(out=out), Overrides())
    assert "_porter_device" in (out / "a.py").read_text() and "_porter_device" in (out / "c.py").read_text()
    assert not (out / "b.py").exists()
    assert [(Path(p).name, m) for p, m in result.problems] == [("b.py", f"cannot write {out / 'b.py'} "
                                                                 "(Permission denied)")]


def test_file_reached_through_a_symlinked_folder_is_ported_once(tmp_path):
    import os

    root = tmp_path / "proj"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    os.symlink(root / "real", root / "alias")
    result = port_tree(root, PortOptions(in_place=True), Overrides())
    assert [Path(r.path).relative_to(root).as_posix() for r in result.changed] == ["real/a.py"]
    assert (root / "alias").is_symlink()
    assert (root / "real" / "a.py").read_text().count("def _porter_device") == 1


def _full_tree(tmp_path):
    import os

    root = tmp_path / "proj"
    for folder in ("data", "weights", "build", ".git/objects", ".porter_cache", ".venv/lib", "node_modules/x",
                   "pkg/__pycache__", "docs", "empty", ".git_not"):
        (root / folder).mkdir(parents=True)
    (root / ".gitignore").write_text("data/\n*.pt\ngen_*.py\n")
    (root / "a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    (root / "gen_a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    (root / "data" / "train.csv").write_bytes(b"a,b\r\n1,2\r\n")
    (root / "weights" / "model.pt").write_bytes(bytes(range(256)))
    (root / "build" / "lib.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".porter_cache" / "lint.json").write_text("{}")
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "node_modules" / "x" / "i.js").write_text("x")
    (root / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (root / "docs" / "notes.md").write_text("# notes\n")
    os.symlink("a.py", root / "link.py")
    os.symlink(tmp_path, root / "escape")
    return root


def test_out_copies_the_whole_tree_ignored_and_excluded_files_unchanged(tmp_path):
    root = _full_tree(tmp_path)
    out = tmp_path / "out"
    result = port_tree(root, PortOptions(out=out), Overrides())
    copied = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    assert copied == [".gitignore", "a.py", "build/lib.py", "data/train.csv", "docs/notes.md", "gen_a.py",
                      "link.py", "weights/model.pt"]
    for rel in ("build/lib.py", "data/train.csv", "gen_a.py", "weights/model.pt"):
        assert (out / rel).read_bytes() == (root / rel).read_bytes()  # copied, not ported
    assert "_porter_device" in (out / "a.py").read_text()
    assert (out / "link.py").is_symlink() and os.readlink(out / "link.py") == "a.py"
    assert result.problems == [] and not (out / "escape").exists()  # never followed out of the tree
    assert [Path(r.path).name for r in result.files] == ["a.py"]
    assert (out / "empty").is_dir() and (out / ".git_not").is_dir()  # empty folders are kept
    assert sorted((Path(p).name, why) for p, why in result.skipped) == [
        (".venv", "virtual environment"), ("__pycache__", "bytecode cache"),
        ("escape", "symlink to outside the tree, not followed"), ("node_modules", "node packages")]


def test_out_summary_says_which_tool_folders_were_not_copied(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    root = _full_tree(tmp_path)
    out = tmp_path / "out"
    outcome = CliRunner().invoke(app, ["port", str(root), "--out", str(out), "--no-cache"])
    assert outcome.exit_code == 0
    assert ("skipped .venv (virtual environment), node_modules (node packages), __pycache__ (bytecode cache), "
            "escape (symlink to outside the tree, not followed)" in outcome.stdout)


def test_in_place_still_ports_only_files_lint_checks(tmp_path):
    root = _full_tree(tmp_path)
    result = port_tree(root, PortOptions(in_place=True), Overrides())
    assert [Path(r.path).name for r in result.changed] == ["a.py"]
    assert "_porter_device" not in (root / "gen_a.py").read_text()
    assert "_porter_device" not in (root / "build" / "lib.py").read_text()
    assert result.skipped == []


def test_failed_write_exits_1_and_is_not_counted_as_changed(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "m.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    (root / "ok.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "pkg").write_text("a file where the folder should go")
    report = tmp_path / "r.json"
    outcome = CliRunner().invoke(app, ["port", str(root), "--out", str(out), "--force", "--no-cache",
                                       "--report", str(report)])
    assert outcome.exit_code == 1
    assert "2 Python files scanned, 1 changed; 1 constructs: 1 fixed" in outcome.stdout
    assert f"cannot write {out / 'pkg' / 'm.py'}" in outcome.stderr
    import json

    data = json.loads(report.read_text())
    assert data["files_changed"] == 1
    assert [p["file"] for p in data["problems"]] == [str(root / "pkg"), str(root / "pkg" / "m.py")]
    assert "_porter_device" in (out / "ok.py").read_text()


def test_clean_port_exits_0(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    root = tmp_path / "proj"
    root.mkdir()
    (root / "ok.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    outcome = CliRunner().invoke(app, ["port", str(root), "--out", str(tmp_path / "out"), "--no-cache"])
    assert outcome.exit_code == 0 and "1 changed" in outcome.stdout


def test_in_place_writes_reach_the_disk_before_the_rename_an_out_copy_skips_it(tmp_path, monkeypatch):
    # A file ported in place replaces the user's own: it is flushed to disk before the rename. An
    # --out copy leaves the source untouched, so its many writes skip the flush.
    from porter.rewrite import fileio

    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(fileio.os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    (root / "notes.txt").write_text("kept\n")
    port_tree(root, PortOptions(out=tmp_path / "out"), Overrides())
    assert synced == [] and (tmp_path / "out" / "notes.txt").read_text() == "kept\n"
    port_tree(root, PortOptions(in_place=True), Overrides())
    assert len(synced) == 1 and ".porter-tmp" in synced[0] and "_porter_device" in (root / "a.py").read_text()
