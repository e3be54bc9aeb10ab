"""The port cache: unchanged files are not rewritten again, changed ones are, and a damaged cache is a miss."""

from __future__ import annotations

from pathlib import Path

from porter.config import Overrides
from porter.rewrite import tree_port
from porter.rewrite.tree_port import PortOptions, port_tree

SOURCE = "import torch\nx = torch.zeros(2).cuda()\n"


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text(SOURCE)
    (root / "clean.py").write_text("y = 1\n")
    return root


def run(root: Path, cache: Path):
    return port_tree(root, PortOptions(cache_dir=cache), Overrides())


def test_second_run_reuses_the_cache(tmp_path, monkeypatch):
    root, cache = make_tree(tmp_path), tmp_path / "cache"
    first = run(root, cache)
    assert list(cache.glob("port-*.json"))
    ported = {p.path: p.ported for p in first.files}
    calls = []
    monkeypatch.setattr(tree_port, "_port_file", lambda path: calls.append(path))
    second = run(root, cache)
    assert calls == []
    assert {p.path: p.ported for p in second.files} == ported
    assert [c.rule_id for p in second.files for c in p.changes] == [c.rule_id for p in first.files for c in p.changes]


def test_an_edited_file_is_ported_again(tmp_path):
    root, cache = make_tree(tmp_path), tmp_path / "cache"
    run(root, cache)
    (root / "a.py").write_text(SOURCE + "y = torch.ones(1).cuda(1)\n")
    again = {Path(p.path).name: p for p in run(root, cache).files}
    assert "_porter_device(1)" in again["a.py"].ported


def test_a_damaged_cache_is_a_miss(tmp_path):
    root, cache = make_tree(tmp_path), tmp_path / "cache"
    expected = {p.path: p.ported for p in run(root, cache).files}
    for path in cache.glob("port-*.json"):
        path.write_text('{"' + str(root / "a.py") + '": [1, 2]}')
    assert {p.path: p.ported for p in run(root, cache).files} == expected


def test_no_cache_dir_means_no_cache(tmp_path):
    root = make_tree(tmp_path)
    port_tree(root, PortOptions(), Overrides())
    assert not list(tmp_path.rglob("port-*.json"))
