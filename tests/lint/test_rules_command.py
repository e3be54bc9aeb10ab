"""`porter rules` (text, json, markdown) and `porter rule ID`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from porter.source.catalogue import load_catalogue
from tests.lint.helpers import porter

CATALOGUE = load_catalogue()
ALL_IDS = [rule.id for rule in CATALOGUE]


def test_catalogue_is_not_trivial():
    assert len(ALL_IDS) > 50
    assert {"NRN001", "NRN005", "NRN101", "NRN150", "NRN502"} <= set(ALL_IDS)


def test_rules_text_lists_every_rule():
    result = porter("rules")
    assert result.exit_code == 0
    assert f"porter rules ({len(ALL_IDS)})" in result.stdout
    listed = re.findall(r"\bNRN\d{3}\b", result.stdout)
    assert listed == ALL_IDS
    assert "cuda-method" in result.stdout


def test_rules_text_for_one_target():
    result = porter("rules", "--target", "portable")
    assert result.exit_code == 0
    assert "fix:portable" in result.stdout
    assert "fix:neuron" not in result.stdout and "fix:xla" not in result.stdout


def test_rules_json_lists_every_rule():
    result = porter("rules", "--output-format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [r["id"] for r in data] == ALL_IDS
    keys = {"id", "name", "title", "category", "severity", "targets", "default", "detects", "why", "fix"}
    for record in data:
        assert keys <= set(record)
        assert set(record["fix"]) == {"neuron", "portable", "xla"}
        assert record["severity"] in ("error", "warning", "info")
    by_id = {r["id"]: r for r in data}
    assert by_id["NRN150"]["targets"] == ["neuron", "xla"]
    assert by_id["NRN150"]["fix"]["portable"]["applicability"] == "none"
    assert by_id["NRN101"]["fix"]["neuron"]["applicability"] == "safe"


def test_rules_markdown_has_a_row_per_construct():
    result = porter("rules", "--output-format", "markdown")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\| NRN\d{3} \|", line)]
    assert [row.split("|")[1].strip() for row in rows] == [i for i in ALL_IDS if not i.startswith("NRN0")]
    nrn150 = next(row for row in rows if row.startswith("| NRN150 "))
    assert nrn150.count("|") == 6  # rule, construct, three targets
    assert "(not reported)" in nrn150  # portable


@pytest.mark.parametrize("args", [["rules", "--output-format", "yaml"], ["rules", "--target", "gpu"]])
def test_rules_bad_options_exit_2(args):
    result = porter(*args)
    assert result.exit_code == 2
    assert "porter: error" in result.stderr


def test_rule_explains():
    result = porter("rule", "NRN101")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("# NRN101 cuda-method")
    for heading in ("## What it detects", "## Why it matters on Neuron", "## Fix per target"):
        assert heading in text
    detects = text.split("## What it detects", 1)[1].split("##", 1)[0]
    assert ".cuda()" in detects
    fixes = text.split("## Fix per target", 1)[1]
    for target in ("neuron", "portable", "xla"):
        assert re.search(rf"^- \*\*{target}\*\*: safe fix", fixes, re.M), target


def test_rule_explains_per_target_difference():
    text = porter("rule", "NRN150").stdout
    fixes = text.split("## Fix per target", 1)[1]
    assert re.search(r"^- \*\*portable\*\*: no change", fixes, re.M)
    assert re.search(r"^- \*\*neuron\*\*: safe fix", fixes, re.M)
    assert "targets: neuron, xla" in text


def test_rule_id_is_case_insensitive():
    assert porter("rule", "nrn101").stdout == porter("rule", "NRN101").stdout


def test_rule_json():
    result = porter("rule", "NRN502", "--output-format", "json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["id"] == "NRN502"
    assert record["fix"]["portable"]["applicability"] == "none"
    assert record["example"]


@pytest.mark.parametrize("rule_id", ["NRN999", "E501", "NRN1"])
def test_unknown_rule_exits_2(rule_id):
    result = porter("rule", rule_id)
    assert result.exit_code == 2
    assert rule_id in result.stderr
    assert "porter rules" in result.stderr
    assert result.stdout == ""


def test_every_rule_can_be_explained():
    # what `porter rule ID` prints, for every rule (in-process: 70 CLI runs would be slow)
    from porter.source.explain import explain

    for rule in CATALOGUE:
        text = explain(rule)
        assert text.startswith(f"# {rule.id} {rule.name}\n"), rule.id
        assert rule.detects in text and rule.why in text
        assert text.count("- **") >= 3  # one fix line per target


def test_rules_include_the_projects_own_rule_files(tmp_path, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    from porter.cli import app

    shutil.copy(Path(__file__).parent.parent / "fixtures" / "lint" / "user_rules" / "frobnicate.toml", tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.porter]\nrule-paths = ["frobnicate.toml"]\n')
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(app, ["rules", "--output-format", "json"])
    assert listed.exit_code == 0 and '"NRN901"' in listed.output
    explained = runner.invoke(app, ["rule", "NRN901"])
    assert explained.exit_code == 0 and "NRN901" in explained.output
