"""Inline and file-level suppressions: `# porter: ignore[...]`, `# noqa`, `# porter: ignore-file`."""

from __future__ import annotations

import pytest

from tests.lint.helpers import findings, fixture, lint, write


def test_suppression_fixture(tmp_path):
    fixture("suppressions.py", tmp_path)
    result = lint("suppressions.py", "--no-cache")
    # lines 3-6 and 9 are suppressed; 7 names another id, 8 another prefix, 10 has no comment
    assert findings(result) == [
        ("suppressions.py:7:20", "NRN101"),
        ("suppressions.py:8:20", "NRN101"),
        ("suppressions.py:10:20", "NRN101"),
    ]


@pytest.mark.parametrize(
    "comment",
    [
        "# porter: ignore[NRN101]",
        "# porter: ignore",
        "# noqa: NRN101",
        "# noqa",
        "# NOQA",
        "#noqa:NRN101",
        "# porter: ignore[NRN1]",
        "# porter: ignore[NRN123, NRN101]",
        "# noqa: E501, NRN101",
        "# type: ignore  # noqa: NRN101",
    ],
)
def test_comment_suppresses(tmp_path, comment):
    write(tmp_path / "a.py", f"import torch\nx = torch.zeros(1).cuda()  {comment}\n")
    result = lint("a.py", "--no-cache")
    assert result.exit_code == 0, result.stdout
    assert findings(result) == []


@pytest.mark.parametrize(
    "comment",
    [
        "# porter: ignore[NRN102]",
        "# noqa: NRN123",
        "# noqa: NRN2",
        "# porter: ignore[NRN1011]",
        "# porter: ignore-file[NRN101]  (not at line start: not a file-level comment)",
    ],
)
def test_comment_for_another_rule_does_not_suppress(tmp_path, comment):
    write(tmp_path / "a.py", f"import torch\nx = torch.zeros(1).cuda()  {comment}\n")
    result = lint("a.py", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("a.py:2:20", "NRN101")]


def test_suppression_only_covers_its_own_line(tmp_path):
    write(tmp_path / "a.py", "import torch\nx = torch.zeros(1).cuda()  # noqa\ny = x.cuda()\n")
    assert findings(lint("a.py", "--no-cache")) == [("a.py:3:7", "NRN101")]


def test_suppression_covers_only_the_named_rule_on_a_line(tmp_path):
    write(tmp_path / "a.py", "import torch\nx = torch.zeros(1).cuda(); torch.cuda.synchronize()  # noqa: NRN101\n")
    assert [c for _, c in findings(lint("a.py", "--no-cache"))] == ["NRN123"]


def test_suppression_on_last_line_of_multiline_finding(tmp_path):
    write(tmp_path / "a.py", "import torch\nx = torch.device(\n    'cuda'\n)  # noqa: NRN102\n")
    # reported on the argument, whose line holds no comment; end line is also line 3
    result = lint("a.py", "--no-cache")
    assert [c for _, c in findings(result)] == ["NRN102"]


def test_suppression_in_a_string_does_not_count(tmp_path):
    # a suppression inside a string literal is not a comment
    write(tmp_path / "a.py", 'import torch\nx = torch.zeros(1).cuda(); s = "# noqa"\n')
    result = lint("a.py", "--no-cache")
    assert [c for _, c in findings(result)] == ["NRN101"]


def test_ignore_file(tmp_path):
    fixture("ignore_file.py", tmp_path)
    result = lint("ignore_file.py", "--no-cache")
    assert result.exit_code == 0
    assert findings(result) == []


def test_ignore_file_with_codes(tmp_path):
    fixture("ignore_file_codes.py", tmp_path)
    result = lint("ignore_file_codes.py", "--no-cache")
    assert findings(result) == [("ignore_file_codes.py:5:1", "NRN123")]


def test_ignore_file_for_another_rule(tmp_path):
    write(tmp_path / "a.py", "# porter: ignore-file[NRN2]\nimport torch\nx = torch.zeros(1).cuda()\n")
    assert findings(lint("a.py", "--no-cache")) == [("a.py:3:20", "NRN101")]


def test_suppressions_in_notebooks(tmp_path):
    import json

    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["import torch\n", "x = torch.zeros(1).cuda()  # noqa: NRN101\n", "torch.cuda.synchronize()\n"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "n.ipynb", json.dumps(nb))
    assert findings(lint("n.ipynb", "--no-cache")) == [("n.ipynb:cell 1:3:1", "NRN123")]


def test_ignore_file_inside_a_string_does_not_count(tmp_path):
    write(tmp_path / "a.py", 'import torch\nHELP = """\n# porter: ignore-file\n"""\nx = torch.zeros(1).cuda()\n')
    assert findings(lint("a.py", "--no-cache")) == [("a.py:5:20", "NRN101")]


def test_noqa_on_a_multiline_string_line_does_not_count(tmp_path):
    code = 'import torch\nx = torch.zeros(1).cuda(); s = """\n# noqa\n"""\n'
    write(tmp_path / "a.py", code)
    assert findings(lint("a.py", "--no-cache")) == [("a.py:2:20", "NRN101")]


COMMENT_SOURCES = [
    'x = ("a"  # noqa\n     "b # not a comment")\n',  # implicit concatenation around a comment
    'def f():\n    """\n    # noqa in a docstring\n    """\n    return 1  # noqa: NRN101\n',
    '@deco(1,  # noqa\n      2)\nclass C:\n    s = """a\n# b\n"""  # c\n    # between\n\n# top\ny = f"{1}#x"  # z\n',
    'if a:\n    b = [\n        1,  # one\n    ]\nelse:\n    c = 2 \\\n        # not reached\n',
    'x = 1  # a\r\ny = "#"  # b\r\n',
    'x = 1  # a\ry = 2  # b\n',  # a lone CR: the parser's lines are not the split's
]


@pytest.mark.parametrize("source", COMMENT_SOURCES)
def test_comments_read_from_one_statement_are_the_whole_files(source):
    import ast

    from porter.source.suppressions import Comments, comment_lines

    try:
        tree = ast.parse(source)
    except SyntaxError:
        pytest.skip("not Python")
    lines = source.split("\n")
    whole = comment_lines(source)
    expected = [whole.get(n, "") if whole is not None else text for n, text in enumerate(lines, start=1)]
    comments = Comments(source, lines, tree)
    assert [comments(n) for n in range(1, len(lines) + 1)] == expected
