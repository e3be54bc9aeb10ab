"""The report lists what is really left: resolved findings are not, notebooks and failed files are."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from porter.cli import app
from porter.config import Overrides
from porter.rewrite.report import build_report, render_markdown
from porter.rewrite.tree_port import PortOptions, port_tree

runner = CliRunner()
NOTEBOOK = {
    "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
               "source": ["import torch\n", "x = torch.zeros(1).cuda()\n"]}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


def _project(tmp_path, files: dict[str, str]) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_finding_resolved_by_another_applied_fix_is_not_left_to_do(tmp_path):
    # NRN127 replaces the whole call, so the NRN128 construct inside it (marked alone) is gone too.
    code = "import torch\nname = torch.cuda.get_device_name(torch.cuda.get_device_properties(0))\n"
    root = _project(tmp_path, {"a.py": code})
    result = port_tree(root, PortOptions(target="neuron"), Overrides())
    (port,) = result.files
    assert "name = str(_porter_device())" in port.ported and "# porter" not in port.ported
    actions = {c.rule_id: (c.action, c.detail) for c in port.changes}
    assert actions["NRN128"] == ("fixed", "resolved by another fix at this site")
    report = build_report(result)
    assert report["manual"] == [] and report["unsafe_skipped"] == 0 and report["effort"] == "none"
    assert "Left to do" not in render_markdown(report)


def test_unsafe_fix_not_applied_and_not_resolved_stays_left_to_do(tmp_path):
    root = _project(tmp_path, {"a.py": "import torch\nx = torch.zeros(1).half().cuda()\n"})
    report = build_report(port_tree(root, PortOptions(target="neuron"), Overrides()))
    assert report["unsafe_skipped"] == 1
    assert [(m["line"], m["action"]) for m in report["manual"]] == [(2, "unsafe-skipped")]


def test_notebooks_are_listed_as_not_ported_and_count_in_the_effort(tmp_path):
    root = _project(tmp_path, {"nb.ipynb": json.dumps(NOTEBOOK), "clean.py": "import torch\n"})
    out = tmp_path / "out"
    result = port_tree(root, PortOptions(out=out), Overrides())
    assert (out / "nb.ipynb").read_bytes() == (root / "nb.ipynb").read_bytes()
    report = build_report(result)
    assert report["notebooks_not_ported"] == [str(root / "nb.ipynb")]
    assert report["effort"] == "low" and report["not_ported"] == 1 and report["migrated_percent"] == 0.0
    assert [(m["cell"], m["line"], m["rule"], m["action"]) for m in report["manual"]] == [
        (1, 2, "NRN101", "not-ported")]
    assert f"| `{root / 'nb.ipynb'}:cell 1:2` | NRN101 | low | notebook not ported, by hand:" in \
        render_markdown(report)
    summary = runner.invoke(app, ["port", str(root), "--diff", "--no-cache"])
    assert summary.exit_code == 0
    outcome = runner.invoke(app, ["port", str(root), "--out", str(tmp_path / "out2"), "--no-cache"])
    assert "; 1 notebook not ported (copied unchanged)" in outcome.stdout


def test_lint_does_not_promise_a_fix_for_notebook_findings(tmp_path, monkeypatch):
    root = _project(tmp_path, {"nb.ipynb": json.dumps(NOTEBOOK), "a.py": "import torch\nx = torch.zeros(1).cuda()\n"})
    monkeypatch.chdir(tmp_path)
    outcome = runner.invoke(app, ["lint", str(root), "--no-cache"])
    lines = outcome.stdout.splitlines()
    assert any("nb.ipynb:cell 1:2:" in line and "NRN101 `" in line and "[*]" not in line for line in lines)
    assert any("a.py:2:" in line and "NRN101 [*]" in line for line in lines)
    assert "[*] 1 fixable with `porter port`" in outcome.stdout


def test_unparsable_file_raises_the_effort(tmp_path):
    root = _project(tmp_path, {"ok.py": "import torch\nx = torch.zeros(1).cuda()\n",
                               "broken.py": "import torch\nx = torch.zeros(1).cuda(\n"})
    report = build_report(port_tree(root, PortOptions(), Overrides()))
    assert report["effort"] == "medium" and report["not_ported"] == 1
    assert [(Path(m["file"]).name, m["action"]) for m in report["manual"]] == [("broken.py", "not-ported")]
    assert report["migrated_percent"] == 50.0
    clean = build_report(port_tree(root / "ok.py", PortOptions(), Overrides()))
    assert clean["effort"] == "none" and clean["not_ported"] == 0


def test_device_string_inside_cuda_call_leaves_no_marker_and_no_work(tmp_path):
    root = _project(tmp_path, {"a.py": 'import torch\nx = torch.zeros(2).cuda("cuda:0")\n'})
    result = port_tree(root, PortOptions(target="neuron"), Overrides())
    (port,) = result.files
    assert "x = torch.zeros(2).to(_porter_device(0))\n" in port.ported and "# porter:" not in port.ported
    assert {(c.rule_id, c.action) for c in port.changes} == {("NRN101", "fixed"), ("NRN105", "fixed")}
    assert build_report(result)["manual"] == []
    again = tmp_path / "again"
    again.mkdir()
    (again / "a.py").write_text(port.ported)
    assert port_tree(again, PortOptions(in_place=True), Overrides()).changed == []


def test_lint_statistics_do_not_promise_a_fix_for_notebook_only_rules(tmp_path, monkeypatch):
    root = _project(tmp_path, {"nb.ipynb": json.dumps(NOTEBOOK)})
    monkeypatch.chdir(tmp_path)
    outcome = runner.invoke(app, ["lint", str(root), "--no-cache", "--statistics"])
    assert "NRN101  [ ]" in outcome.stdout and "[*]" not in outcome.stdout
    (root / "a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    outcome = runner.invoke(app, ["lint", str(root), "--no-cache", "--statistics"])
    assert "NRN101  [*]" in outcome.stdout
