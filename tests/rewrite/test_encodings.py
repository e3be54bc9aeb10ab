"""A ported file is written back in its own encoding: PEP 263 cookie, BOM and line endings kept."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from porter.cli import app
from porter.config import Overrides
from porter.rewrite import tree_port
from porter.rewrite.tree_port import PortOptions, port_tree

runner = CliRunner()
LATIN1 = '# -*- coding: latin-1 -*-\nimport torch\nname = "café"\nx = torch.zeros(1).cuda()\n'.encode("latin-1")
BOM = b"\xef\xbb\xbfimport torch\nx = torch.zeros(1).cuda()\nprint(\"\xc3\xa9\")\n"
CRLF = b"import torch\r\nx = torch.zeros(1).cuda()  # c\r\nprint(x)\r\n"


def _tree(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "lat.py").write_bytes(LATIN1)
    (root / "bom.py").write_bytes(BOM)
    (root / "crlf.py").write_bytes(CRLF)
    return root


def _check(folder):
    lat = (folder / "lat.py").read_bytes()
    assert b"_porter_device" in lat
    assert 'name = "café"'.encode("latin-1") in lat and "café".encode() not in lat
    assert lat.startswith(b"# -*- coding: latin-1 -*-\n")
    bom = (folder / "bom.py").read_bytes()
    assert bom.startswith(b"\xef\xbb\xbfimport torch") and b"_porter_device" in bom
    assert bom.count(b"\xef\xbb\xbf") == 1 and 'print("é")'.encode() in bom
    crlf = (folder / "crlf.py").read_bytes()
    assert b"_porter_device" in crlf and crlf.count(b"\n") == crlf.count(b"\r\n")


def test_out_writes_each_file_in_its_own_encoding(tmp_path):
    root = _tree(tmp_path)
    result = port_tree(root, PortOptions(out=tmp_path / "out"), Overrides())
    assert not result.problems and len(result.changed) == 3
    _check(tmp_path / "out")


def test_in_place_writes_each_file_in_its_own_encoding(tmp_path):
    root = _tree(tmp_path)
    port_tree(root, PortOptions(in_place=True), Overrides())
    _check(root)


def test_lint_fix_writes_each_file_in_its_own_encoding(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner.invoke(app, ["lint", "--fix", "--no-cache", str(root)])
    _check(root)


@pytest.mark.parametrize("mode", ["out", "in_place"])
def test_port_that_the_encoding_cannot_hold_is_a_problem_and_the_file_is_kept(tmp_path, monkeypatch, mode):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "lat.py").write_bytes(LATIN1)
    real = tree_port.port_source_narrow

    def adds_non_latin1(*args, **kwargs):
        port = real(*args, **kwargs)
        port.ported += "# → not latin-1\n"
        return port

    monkeypatch.setattr(tree_port, "port_source_narrow", adds_non_latin1)
    out = tmp_path / "out"
    options = PortOptions(out=out) if mode == "out" else PortOptions(in_place=True)
    result = port_tree(root, options, Overrides())
    assert [p.rsplit("/", 1)[-1] for p, _ in result.problems] == ["lat.py"]
    assert "cannot be written in the file's encoding iso-8859-1" in result.problems[0][1]
    assert result.changed == [] and result.files[0].changes == []
    written = (out if mode == "out" else root) / "lat.py"
    assert written.read_bytes() == LATIN1
