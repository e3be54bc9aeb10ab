"""Notebooks: IPython syntax is neutralised, not a reason to skip code; positions map to the cell."""

from __future__ import annotations

import json

import pytest

from tests.lint.helpers import codes, findings, fixture, lint, write


def _notebook(*sources: str) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
             for src in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_ipython_syntax_fixture_every_python_line_checked(tmp_path):
    fixture("ipython_syntax.ipynb", tmp_path)
    result = lint("ipython_syntax.ipynb", "--no-cache")
    assert result.exit_code == 1
    nb = "ipython_syntax.ipynb"
    assert findings(result) == [
        (f"{nb}:cell 2:2:7", "NRN101"),    # %%time body
        (f"{nb}:cell 3:2:7", "NRN101"),    # %%capture out body
        (f"{nb}:cell 4:1:27", "NRN101"),   # %%timeit -n 10 -r 3 <setup statement>
        (f"{nb}:cell 4:2:7", "NRN101"),    # %%timeit body
        (f"{nb}:cell 5:2:7", "NRN101"),    # %%prun -s cumulative body
        (f"{nb}:cell 6:1:13", "NRN101"),   # %time w = x.cuda()
        (f"{nb}:cell 7:2:23", "NRN101"),   # indented %timeit -n1 ..., then an indented !escape
        (f"{nb}:cell 8:2:18", "NRN101"),   # r = %timeit -o x.cuda() after files = !ls
        (f"{nb}:cell 8:3:7", "NRN101"),
        (f"{nb}:cell 9:6:7", "NRN101"),    # after x?, ??x, x.cuda?? and an if-block holding only !ls
        (f"{nb}:cell 13:3:7", "NRN101"),   # a `% 3` continuation line is Python, not a magic
    ]
    # no cell is "not checked"; %%bash / %%writefile / %%html cells (10-12) are skipped whole;
    # the suppression comment after `%time m = x.cuda()` (cell 14) still applies
    assert "NRN001" not in result.stdout
    assert "cell 10" not in result.stdout and "cell 11" not in result.stdout and "cell 12" not in result.stdout
    assert "cell 14" not in result.stdout


@pytest.mark.parametrize("magic", ["%%time", "%%timeit", "%%capture", "%%prun", "%%debug", "%%python3"])
def test_python_cell_magics_body_is_checked(tmp_path, magic):
    write(tmp_path / "n.ipynb", _notebook("import torch\n", f"{magic}\nz = torch.zeros(1).cuda()\n"))
    assert findings(lint("n.ipynb", "--no-cache")) == [("n.ipynb:cell 2:2:20", "NRN101")]


@pytest.mark.parametrize("magic", ["%%bash", "%%sh", "%%writefile k.py", "%%html", "%%javascript", "%%latex",
                                   "%%markdown", "%%script python2", "%%cython"])
def test_non_python_cell_magics_are_skipped(tmp_path, magic):
    write(tmp_path / "n.ipynb", _notebook("import torch\n", f"{magic}\nz = torch.zeros(1).cuda()\n",
                                          "y = torch.zeros(1).cuda()\n"))
    result = lint("n.ipynb", "--no-cache")
    assert findings(result) == [("n.ipynb:cell 3:1:20", "NRN101")]


def test_line_magic_statement_positions_in_json(tmp_path):
    write(tmp_path / "n.ipynb", _notebook("import torch\n%timeit -n 5 -r2 torch.zeros(1).cuda()\n"))
    (record,) = json.loads(lint("n.ipynb", "--no-cache", "--output-format", "json").stdout)
    line = "%timeit -n 5 -r2 torch.zeros(1).cuda()"
    assert record["cell"] == 1
    assert record["location"] == {"row": 2, "column": line.index("cuda") + 1}
    assert record["end_location"]["row"] == 2
    assert record["end_location"]["column"] > record["location"]["column"]
    assert record["end_location"]["column"] <= len(line) + 1


def test_syntax_error_after_a_line_magic_points_into_the_original_line(tmp_path):
    write(tmp_path / "n.ipynb", _notebook("import torch\n", "%time w = torch.zeros(1).cuda(\n",
                                          "y = torch.zeros(1).cuda()\n"))
    result = lint("n.ipynb", "--no-cache", "--output-format", "json")
    records = json.loads(result.stdout)
    assert [(r["code"], r["cell"]) for r in records] == [("NRN001", 2), ("NRN101", 3)]
    assert records[0]["location"]["column"] > len("%time ")  # shifted back past the magic


@pytest.mark.parametrize("line", ["files = !ls", "a, b = !echo 1 2", "x?", "?x", "??x.y", "torch.zeros?? ",
                                  "%matplotlib inline", "!pip install torch", "env = %env"])
def test_ipython_line_forms_do_not_make_the_cell_unchecked(tmp_path, line):
    write(tmp_path / "n.ipynb", _notebook(f"import torch\n{line}\nz = torch.zeros(1).cuda()\n"))
    result = lint("n.ipynb", "--no-cache")
    assert findings(result) == [("n.ipynb:cell 1:3:20", "NRN101")]


def test_invalid_notebook_without_any_token_is_reported(tmp_path):
    # the token prefilter skips .py files without a CUDA token, but notebook JSON is always checked
    write(tmp_path / "bad.ipynb", "{not json")
    write(tmp_path / "bad2.ipynb", '{"cells": "x"}')
    write(tmp_path / "good.ipynb", _notebook("print(1)\n"))
    result = lint(".", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("bad.ipynb:1:1", "NRN006"), ("bad2.ipynb:1:1", "NRN006")]
    assert "All checks passed!" not in result.stdout


def test_empty_notebook_file_is_an_empty_notebook(tmp_path):
    write(tmp_path / "empty.ipynb", "")
    result = lint("empty.ipynb", "--no-cache")
    assert result.exit_code == 0
    assert codes(result) == []
