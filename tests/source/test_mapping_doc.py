"""docs/mapping.md is generated from the catalogue and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from porter.cli import app
from porter.source.catalogue import load_catalogue
from porter.source.mapping import render_mapping

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


def test_mapping_doc_matches_the_catalogue():
    expected = CliRunner().invoke(app, ["rules", "--output-format", "markdown"]).output
    assert DOC.read_text() == expected, "regenerate with: porter rules --output-format markdown > docs/mapping.md"


def test_every_reporting_rule_has_a_row_per_target():
    text = render_mapping(load_catalogue())
    for rule in load_catalogue():
        if rule.id.startswith("NRN0"):
            assert f"| {rule.id} |" not in text
            continue
        row = next(line for line in text.splitlines() if line.startswith(f"| {rule.id} |"))
        assert row.count("|") == 6
