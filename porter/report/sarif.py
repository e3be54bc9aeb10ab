"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers."""

from __future__ import annotations

import json
from pathlib import Path

from porter import __version__
from porter.report.base import LintReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def render_sarif(report: LintReport) -> str:
    used = sorted({f.rule_id for f in report.findings})
    rules = []
    for rule_id in used:
        rule = report.catalogue.get(rule_id)
        if rule is None:
            continue
        rules.append({
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.detects},
            "help": {"text": rule.why, "markdown": rule.docs or rule.why},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"category": rule.category},
        })
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        region = {"startLine": f.line, "startColumn": f.col, "endLine": f.end_line, "endColumn": f.end_col}
        result = {
            "ruleId": f.rule_id,
            "level": LEVELS[report.severity(f)],
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": Path(f.path).as_posix()},
                    "region": region,
                }
            }],
        }
        if f.rule_id in index:
            result["ruleIndex"] = index[f.rule_id]
        if f.cell is not None:
            result["properties"] = {"cell": f.cell}
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "porter",
                "fullName": "neuron-porter",
                "version": __version__,
                "informationUri": "https://pypi.org/project/neuron-porter/",
                "rules": rules,
            }},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
