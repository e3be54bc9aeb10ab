"""A write that fails for one file is reported for that file; the other files are still written."""

from __future__ import annotations

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

    def failing(path: Path, data: bytes, mode_from=None):
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
