"""`--statistics` honours `--output-format`: text, a JSON array like ruff's, or a usage error."""

from __future__ import annotations

import json

import pytest

from tests.lint.helpers import lint, write

CODE = "import torch\nx = torch.zeros(1).cuda()\ny = torch.zeros(1).cuda()\ntorch.cuda.synchronize()\n"


def test_statistics_json_is_an_array_of_counts(tmp_path):
    write(tmp_path / "a.py", CODE)
    result = lint("a.py", "--no-cache", "--statistics", "--output-format", "json")
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [(r["code"], r["count"]) for r in records] == [("NRN101", 2), ("NRN123", 1)]
    for record in records:
        assert set(record) == {"code", "name", "count", "fixable"}
        assert isinstance(record["name"], str) and record["name"]
        assert isinstance(record["fixable"], bool)
    assert records[0]["fixable"] is True


def test_statistics_json_clean_run_is_an_empty_array(tmp_path):
    write(tmp_path / "a.py", "x = 1\n")
    result = lint("a.py", "--no-cache", "--statistics", "--output-format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_statistics_json_to_output_file_and_env_format(tmp_path):
    write(tmp_path / "a.py", CODE)
    result = lint("a.py", "--no-cache", "--statistics", "-o", "stats.json",
                  env={"PORTER_OUTPUT_FORMAT": "json"})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads((tmp_path / "stats.json").read_text())[0]["code"] == "NRN101"


def test_statistics_text_lists_count_code_and_name(tmp_path):
    write(tmp_path / "a.py", CODE)
    result = lint("a.py", "--no-cache", "--statistics")
    first = result.stdout.splitlines()[0].split()
    assert first[:3] == ["2", "NRN101", "[*]"]
    assert len(first) == 4  # the rule's name


@pytest.mark.parametrize("fmt", ["sarif", "github", "junit"])
def test_statistics_in_a_location_format_is_a_usage_error(tmp_path, fmt):
    write(tmp_path / "a.py", CODE)
    result = lint("a.py", "--no-cache", "--statistics", "--output-format", fmt, "-o", "report.out")
    assert result.exit_code == 2
    assert f"--statistics cannot be written as --output-format {fmt}" in result.stderr
    assert "text or json" in result.stderr
    assert not (tmp_path / "report.out").exists()
