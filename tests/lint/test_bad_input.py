"""Bad input: every problem with one file is one diagnostic, and the other files are still checked."""

from __future__ import annotations

import json

import pytest

from tests.lint.helpers import CUDA_CODE, codes, findings, fixture, lint, write


def test_syntax_error_reported_with_location_and_others_checked(tmp_path):
    fixture("syntax_error.py", tmp_path)
    write(tmp_path / "ok.py", CUDA_CODE)
    result = lint(".", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("ok.py:2:20", "NRN101"), ("syntax_error.py:3:1", "NRN001")]
    assert "syntax error" in result.stdout
    assert "print(...)" in result.stdout  # CPython's message is passed on


def test_syntax_error_position_points_into_the_line(tmp_path):
    write(tmp_path / "bad.py", "import torch\nx = torch.zeros(1).cuda(\n")
    result = lint("bad.py", "--no-cache", "--output-format", "json")
    (record,) = json.loads(result.stdout)
    assert record["code"] == "NRN001"
    assert record["location"]["row"] == 2
    assert record["location"]["column"] >= 1


def test_file_without_tokens_is_not_parsed(tmp_path):
    # the prefilter: no CUDA token, no parse, so no NRN001 (documented in rules/porter.toml)
    write(tmp_path / "py2.py", "print 'hello'\n")
    result = lint("py2.py", "--no-cache")
    assert result.exit_code == 0
    assert codes(result) == []


def test_null_bytes_in_source(tmp_path):
    write(tmp_path / "nul.py", b"import torch\nx = torch.zeros(1).cuda()\x00\n")
    result = lint("nul.py", "--no-cache")
    assert result.exit_code == 1
    assert codes(result) == ["NRN001"]


def test_non_utf8_without_cookie_is_nrn002(tmp_path):
    fixture("latin1_no_cookie.py", tmp_path)
    write(tmp_path / "ok.py", CUDA_CODE)
    result = lint(".", "--no-cache")
    assert findings(result) == [("latin1_no_cookie.py:1:1", "NRN002"), ("ok.py:2:20", "NRN101")]
    assert "0xe9" in result.stdout


def test_latin1_with_cookie_decodes(tmp_path):
    fixture("latin1_cookie.py", tmp_path)
    result = lint("latin1_cookie.py", "--no-cache")
    assert findings(result) == [("latin1_cookie.py:5:20", "NRN101")]


def test_columns_count_characters_not_bytes(tmp_path):
    write(tmp_path / "u.py", 'import torch\ns = "ééé"; x = torch.zeros(1).cuda()\n')
    (record,) = json.loads(lint("u.py", "--no-cache", "--output-format", "json").stdout)
    assert record["location"] == {"row": 2, "column": len('s = "ééé"; x = torch.zeros(1).') + 1}


def test_unknown_encoding_cookie_is_nrn002(tmp_path):
    write(tmp_path / "e.py", b"# -*- coding: klingon -*-\nimport torch\nx = torch.zeros(1).cuda()\n")
    result = lint("e.py", "--no-cache")
    assert findings(result) == [("e.py:1:1", "NRN002")]


def test_bom_file(tmp_path):
    fixture("bom.py", tmp_path)
    assert (tmp_path / "bom.py").read_bytes().startswith(b"\xef\xbb\xbf")
    result = lint("bom.py", "--no-cache")
    assert findings(result) == [("bom.py:3:20", "NRN101")]


def test_bom_with_conflicting_cookie_is_nrn002(tmp_path):
    write(tmp_path / "b.py", b"\xef\xbb\xbf# coding: latin-1\nimport torch\nx = torch.zeros(1).cuda()\n")
    assert codes(lint("b.py", "--no-cache")) == ["NRN002"]


def test_empty_file(tmp_path):
    write(tmp_path / "empty.py", b"")
    write(tmp_path / "only_bom.py", b"\xef\xbb\xbf")
    # a zero-byte .ipynb (as editors create) is an empty notebook, as in ruff, not NRN006
    write(tmp_path / "empty.ipynb", b"")
    result = lint(".", "--no-cache")
    assert result.exit_code == 0
    assert codes(result) == []
    assert "All checks passed!" in result.stdout
    assert "no Python files" not in result.stderr


def test_huge_file_is_nrn004(tmp_path):
    line = b"x = 1  # cuda padding padding padding padding padding padding\n"
    data = line * (10 * 2**20 // len(line) + 2)
    assert len(data) > 10 * 2**20
    write(tmp_path / "big.py", data)
    write(tmp_path / "ok.py", CUDA_CODE)
    result = lint(".", "--no-cache")
    assert findings(result) == [("big.py:1:1", "NRN004"), ("ok.py:2:20", "NRN101")]
    assert "10 MiB" in result.stdout


def test_file_just_under_the_limit_is_checked(tmp_path):
    head = CUDA_CODE.encode()
    data = head + b"#" * (10 * 2**20 - len(head) - 1) + b"\n"
    assert len(data) == 10 * 2**20
    write(tmp_path / "edge.py", data)
    assert codes(lint("edge.py", "--no-cache")) == ["NRN101"]


def test_binary_junk_named_py(tmp_path):
    # random-looking bytes with a token in them: invalid UTF-8, so NRN002, no crash
    junk = bytes(range(256)) * 8 + b"cuda" + bytes(range(255, -1, -1)) * 8
    write(tmp_path / "junk.py", junk)
    write(tmp_path / "ok.py", CUDA_CODE)
    result = lint(".", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("junk.py:1:1", "NRN002"), ("ok.py:2:20", "NRN101")]


def test_binary_junk_without_token_is_skipped(tmp_path):
    write(tmp_path / "junk.py", bytes(range(256)) * 8)
    result = lint("junk.py", "--no-cache")
    assert result.exit_code == 0


def test_invalid_notebook_json_is_nrn006(tmp_path):
    fixture("invalid.ipynb", tmp_path)
    write(tmp_path / "ok.py", CUDA_CODE)
    result = lint(".", "--no-cache")
    assert findings(result) == [("invalid.ipynb:1:1", "NRN006"), ("ok.py:2:20", "NRN101")]
    assert "not a valid Jupyter notebook" in result.stdout


@pytest.mark.parametrize(
    "text",
    [
        '{"cuda": 1}',                              # no cells
        '{"cells": "cuda"}',                        # cells not a list
        '["cuda"]',                                 # not an object
        b'{"cells": [], "x": "cuda\xff"}',          # not UTF-8
    ],
)
def test_malformed_notebooks_are_nrn006(tmp_path, text):
    write(tmp_path / "n.ipynb", text)
    result = lint("n.ipynb", "--no-cache")
    assert result.exit_code == 1
    assert codes(result) == ["NRN006"]


def test_notebook_with_magics_reports_the_cell(tmp_path):
    fixture("magics.ipynb", tmp_path)
    result = lint("magics.ipynb", "--no-cache")
    assert result.exit_code == 1
    # the magics in cell 1 are not syntax errors; markdown prose is not code
    assert findings(result) == [("magics.ipynb:cell 2:2:20", "NRN101")]


def test_notebook_cell_with_syntax_error_others_still_checked(tmp_path):
    fixture("cell_syntax_error.ipynb", tmp_path)
    result = lint("cell_syntax_error.ipynb", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [
        ("cell_syntax_error.ipynb:cell 2:1:1", "NRN001"),
        ("cell_syntax_error.ipynb:cell 3:1:1", "NRN123"),
    ]


def test_notebook_findings_are_in_cell_order(tmp_path):
    def cell(src):
        return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": src}

    nb = {"cells": [cell("import torch\n\n\nx = torch.zeros(1).cuda()\n"), cell("torch.cuda.synchronize()\n")],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "n.ipynb", json.dumps(nb))
    result = lint("n.ipynb", "--no-cache")
    assert findings(result) == [("n.ipynb:cell 1:4:20", "NRN101"), ("n.ipynb:cell 2:1:1", "NRN123")]


def test_notebook_cell_magic_cell_is_skipped(tmp_path):
    def cell(src):
        return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": src}

    nb = {"cells": [cell("%%bash\necho x.cuda()\n"), cell("import torch\nx = torch.zeros(1).cuda()\n")],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "n.ipynb", json.dumps(nb))
    assert findings(lint("n.ipynb", "--no-cache")) == [("n.ipynb:cell 2:2:20", "NRN101")]


def test_python2_file_among_many(tmp_path):
    for i in range(5):
        write(tmp_path / f"ok{i}.py", CUDA_CODE)
    write(tmp_path / "py2.py", "import torch\nprint torch.cuda.is_available()\n")
    result = lint(".", "--no-cache")
    assert codes(result).count("NRN101") == 5
    assert ("py2.py:2:1", "NRN001") in findings(result)


def test_diagnostics_are_ignored_by_id_or_nrn0_prefix(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    (tmp_path / "py2.py").write_text('print "moving", x.cuda()\n')
    runner = CliRunner()
    for args, expected in (([], 1), (["--ignore", "NRN001"], 0), (["--ignore", "NRN0"], 0)):
        result = runner.invoke(app, ["lint", str(tmp_path / "py2.py"), "--no-cache", *args])
        assert result.exit_code == expected, (args, result.output)
