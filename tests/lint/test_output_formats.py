"""`--output-format json|sarif|github|junit`: each is well-formed and carries the findings."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

import pytest

from tests.lint.helpers import CLEAN_CODE, fixture, lint, write


@pytest.fixture
def sample(tmp_path):
    fixture("cuda_sample.py", tmp_path)
    # NRN126 has only a manual fix: its JSON `fix` is null
    write(tmp_path / "m.py", "import torch\nprint(torch.cuda.memory_summary())\n")
    return tmp_path


def run(fmt: str, *paths: str, target: str = "neuron"):
    result = lint(*(paths or ("cuda_sample.py", "m.py")), "--no-cache", "--output-format", fmt, "--target", target)
    return result


# -- json ---------------------------------------------------------------------------------------


def test_json_is_a_list_of_findings(sample):
    result = run("json")
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [(r["filename"], r["code"]) for r in records] == [
        ("cuda_sample.py", "NRN150"), ("cuda_sample.py", "NRN101"), ("cuda_sample.py", "NRN502"),
        ("m.py", "NRN126"),
    ]
    cuda = records[1]
    assert cuda["location"] == {"row": 4, "column": 20}
    assert cuda["end_location"] == {"row": 4, "column": 26}
    assert cuda["name"] == "cuda-method"
    assert cuda["severity"] == "error"
    assert cuda["cell"] is None
    assert cuda["target"] == "neuron"
    assert cuda["fix"]["applicability"] == "safe"
    assert cuda["fix"]["message"]
    assert cuda["message"].startswith("`.cuda()`")
    assert records[3]["fix"] is None


def test_json_fix_follows_target(sample):
    records = json.loads(run("json", "cuda_sample.py", target="portable").stdout)
    assert [r["code"] for r in records] == ["NRN101"]
    assert records[0]["target"] == "portable"


def test_json_clean_is_empty_list(tmp_path):
    write(tmp_path / "c.py", CLEAN_CODE)
    result = lint("c.py", "--no-cache", "--output-format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_json_notebook_cell(tmp_path):
    fixture("magics.ipynb", tmp_path)
    (record,) = json.loads(lint("magics.ipynb", "--no-cache", "--output-format", "json").stdout)
    assert record["cell"] == 2
    assert record["location"] == {"row": 2, "column": 20}


# -- sarif --------------------------------------------------------------------------------------


def test_sarif_structure(sample):
    result = run("sarif")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["version"] == "2.1.0"
    assert "sarif" in doc["$schema"]
    (run_,) = doc["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "porter"
    rules = driver["rules"]
    rule_ids = [r["id"] for r in rules]
    assert rule_ids == sorted({"NRN150", "NRN101", "NRN502", "NRN126"})
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run_["results"]
    assert len(results) == 4
    for res in results:
        assert res["ruleId"] in rule_ids
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        (loc,) = res["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"] in ("cuda_sample.py", "m.py")
        region = phys["region"]
        assert {"startLine", "startColumn", "endLine", "endColumn"} <= set(region)
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    cuda = next(r for r in results if r["ruleId"] == "NRN101")
    assert cuda["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4, "startColumn": 20, "endLine": 4, "endColumn": 26,
    }
    assert cuda["level"] == "error"
    info = next(r for r in results if r["ruleId"] == "NRN150")
    assert info["level"] == "note"


def test_sarif_clean_has_empty_results(tmp_path):
    write(tmp_path / "c.py", CLEAN_CODE)
    doc = json.loads(lint("c.py", "--no-cache", "--output-format", "sarif").stdout)
    assert doc["version"] == "2.1.0"
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_notebook_cell_property(tmp_path):
    fixture("magics.ipynb", tmp_path)
    doc = json.loads(lint("magics.ipynb", "--no-cache", "--output-format", "sarif").stdout)
    (res,) = doc["runs"][0]["results"]
    assert res["properties"]["cell"] == 2


# -- github -------------------------------------------------------------------------------------

GITHUB = re.compile(
    r"^::(?P<level>error|warning|notice) (?P<props>[^:]+)::(?P<message>.+)$"
)


def test_github_annotations(sample):
    result = run("github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    parsed = []
    for line in lines:
        match = GITHUB.match(line)
        assert match, line
        props = dict(p.split("=", 1) for p in match["props"].split(","))
        parsed.append((match["level"], props, match["message"]))
    level, props, message = parsed[1]
    assert level == "error"
    assert props["file"] == "cuda_sample.py"
    assert (props["line"], props["col"], props["endLine"], props["endColumn"]) == ("4", "20", "4", "26")
    assert "NRN101" in props["title"]
    assert message.startswith("cuda_sample.py:4:20: NRN101 ")
    assert parsed[0][0] == "notice"  # NRN150 is info
    assert parsed[3][0] == "warning"  # NRN126 is a warning


def test_github_escapes_properties(tmp_path):
    write(tmp_path / "a,b.py", "import torch\nx = torch.zeros(1).cuda()\n")
    line = lint("a,b.py", "--no-cache", "--output-format", "github").stdout.strip()
    assert "file=a%2Cb.py," in line


def test_github_clean_is_empty(tmp_path):
    write(tmp_path / "c.py", CLEAN_CODE)
    result = lint("c.py", "--no-cache", "--output-format", "github")
    assert result.exit_code == 0
    assert result.stdout == ""


# -- junit --------------------------------------------------------------------------------------


def test_junit_is_parseable_xml(sample):
    result = run("junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout.encode("utf-8"))
    assert root.tag == "testsuites"
    assert root.get("tests") == "4" and root.get("failures") == "4"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["cuda_sample.py", "m.py"]
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 4
    failures = [c.find("failure") for c in cases]
    assert all(f is not None for f in failures)
    assert [f.get("type") for f in failures] == ["NRN150", "NRN101", "NRN502", "NRN126"]
    assert failures[1].text.startswith("cuda_sample.py:4:20: NRN101")
    assert suites[0].get("failures") == "3"


def test_junit_clean_has_a_passing_case(tmp_path):
    write(tmp_path / "c.py", CLEAN_CODE)
    result = lint("c.py", "--no-cache", "--output-format", "junit")
    assert result.exit_code == 0
    root = ET.fromstring(result.stdout.encode("utf-8"))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 1
    assert cases[0].find("failure") is None
    assert root.get("failures") == "0"


def test_junit_escapes_markup_in_messages(tmp_path):
    # a path with XML metacharacters must still give well-formed XML
    write(tmp_path / "a&<b>.py", "import torch\nx = torch.zeros(1).cuda()\n")
    result = lint("a&<b>.py", "--no-cache", "--output-format", "junit")
    root = ET.fromstring(result.stdout.encode("utf-8"))
    assert root.find("testsuite").get("name") == "a&<b>.py"


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "junit", "text"])
def test_every_format_to_output_file(sample, fmt):
    result = lint("cuda_sample.py", "--no-cache", "--output-format", fmt, "-o", f"report.{fmt}")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "NRN101" in (sample / f"report.{fmt}").read_text(encoding="utf-8")


def test_fix_marker_promises_safe_fixes_only(tmp_path):
    # as in ruff: `[*]` for what `porter port` applies by default; unsafe fixes are counted apart,
    # and uses of a package whose imports port guards are not promised a fix
    write(tmp_path / "h.py", "import torch\nimport triton\nx = torch.zeros(1).half()\ny = x.cuda()\n"
                             "@triton.jit\ndef k(p):\n    pass\n")
    out = lint("h.py", "--no-cache").stdout
    assert "h.py:2:8: NRN406 [*]" in out and "h.py:5:2: NRN406 `k` is a Triton GPU kernel" in out
    assert "NRN206 `.half()`" in out and "NRN101 [*]" in out
    assert "[*] 2 fixable with `porter port`" in out
    assert "1 more fixable with `porter port --unsafe-fixes`" in out
