"""Locations in machine outputs: notebook cells survive in sarif and github, SARIF URIs are proper
relative URI references, JUnit totals agree with their suites."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree as ET

from typer.testing import CliRunner

from porter.cli import app
from tests.lint.helpers import CLEAN_CODE, CUDA_CODE, fixture, lint, write


def _sarif(*args) -> list[dict]:
    doc = json.loads(lint(*args, "--no-cache", "--output-format", "sarif").stdout)
    return doc["runs"][0]["results"]


def test_sarif_notebook_finding_names_its_cell(tmp_path):
    fixture("magics.ipynb", tmp_path)
    (res,) = _sarif("magics.ipynb")
    region = res["locations"][0]["physicalLocation"]["region"]
    assert res["message"]["text"].startswith("cell 2: ")
    assert res["properties"]["cell"] == 2
    assert region["properties"] == {"cell": 2, "cellLine": 2, "cellColumn": 20}
    # the region points into the .ipynb text itself, at the `.cuda()` of the cell's second line
    text = (tmp_path / "magics.ipynb").read_text().splitlines()
    line = text[region["startLine"] - 1]
    assert line[region["startColumn"] - 1:].startswith("cuda()")
    assert region["endLine"] == region["startLine"] and region["endColumn"] > region["startColumn"]


def test_sarif_python_finding_has_no_cell(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    (res,) = _sarif("a.py")
    assert not res["message"]["text"].startswith("cell")
    assert "properties" not in res
    assert "properties" not in res["locations"][0]["physicalLocation"]["region"]


def test_sarif_uri_is_a_percent_encoded_relative_reference(tmp_path):
    name = "my dir/we,ird:name #1%.py"
    write(tmp_path / name, CUDA_CODE)
    (res,) = _sarif("my dir")
    uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20dir/we%2Cird%3Aname%20%231%25.py"
    assert urlparse(uri).scheme == ""  # the ':' does not read as a scheme
    assert unquote(uri) == name


def test_sarif_absolute_path_is_a_file_uri(tmp_path):
    write(tmp_path / "sp ace" / "a.py", CUDA_CODE)
    (res,) = _sarif(tmp_path / "sp ace" / "a.py")
    uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("file:///")
    assert " " not in uri
    assert unquote(urlparse(uri).path) == str(tmp_path / "sp ace" / "a.py")


def test_github_notebook_annotation_names_its_cell(tmp_path):
    fixture("magics.ipynb", tmp_path)
    line = lint("magics.ipynb", "--no-cache", "--output-format", "github").stdout.strip()
    match = re.match(r"^::error (?P<props>[^:]+)::(?P<message>.+)$", line)
    assert match, line
    props = dict(p.split("=", 1) for p in match["props"].split(","))
    assert props["title"] == "porter (NRN101) cell 2"
    assert props["file"] == "magics.ipynb"
    assert match["message"].startswith("magics.ipynb:cell 2:2:20: NRN101 ")
    # annotated on the line of the .ipynb file where the code sits (GitHub shows the file's lines)
    text = (tmp_path / "magics.ipynb").read_text().splitlines()
    assert text[int(props["line"]) - 1][int(props["col"]) - 1:].startswith("cuda()")


def test_notebook_from_stdin_keeps_its_ipynb_positions_and_python_its_fix_edits(tmp_path):
    fixture("magics.ipynb", tmp_path)
    data = (tmp_path / "magics.ipynb").read_text()
    runner = CliRunner()
    from_stdin = runner.invoke(app, ["lint", "-", "--stdin-filename", "magics.ipynb", "--output-format", "sarif"],
                               input=data)
    region = json.loads(from_stdin.stdout)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == _sarif("magics.ipynb")[0]["locations"][0]["physicalLocation"]["region"]
    records = json.loads(runner.invoke(app, ["lint", "-", "--stdin-filename", "m.py", "--output-format", "json"],
                                       input=CUDA_CODE).stdout)
    assert records[0]["fix"]["edits"], records


def test_junit_clean_totals_match_the_suite(tmp_path):
    write(tmp_path / "c.py", CLEAN_CODE)
    root = ET.fromstring(lint("c.py", "--no-cache", "--output-format", "junit").stdout.encode())
    suites = root.findall("testsuite")
    assert root.get("tests") == "1" and root.get("failures") == "0"
    assert sum(int(s.get("tests")) for s in suites) == 1
    assert len(root.findall("./testsuite/testcase")) == 1


def test_junit_totals_are_the_sum_of_suites(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    write(tmp_path / "b.py", CUDA_CODE + "torch.cuda.synchronize()\n")
    root = ET.fromstring(lint(".", "--no-cache", "--output-format", "junit").stdout.encode())
    suites = root.findall("testsuite")
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites) == 3
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in suites) == 3
    assert len(root.findall("./testsuite/testcase")) == 3
