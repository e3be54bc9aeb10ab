"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from porter import __version__
from porter.report.base import LintReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def artifact_uri(path: str) -> str:
    """A URI reference for a path as shown: relative paths stay relative (percent-encoded, so a
    space, `#`, `%` or a `:` that would read as a scheme are safe); absolute ones are file URIs."""
    posix = Path(path)
    if posix.is_absolute():
        return posix.as_uri()
    return quote(os.fsencode(posix.as_posix()), safe="/")  # a non-UTF-8 name's bytes as %XX


def render_sarif(report: LintReport) -> str:
    used = sorted({f.rule_id for f in report.findings})
    rules = []
    for rule_id in used:
        rule = report.catalogue.get(rule_id)
        if rule is None:
            continue
        entry = {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.detects},
            "help": {"text": rule.why, "markdown": rule.docs or rule.why},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"category": rule.category},
        }
        url = report.docs_url(rule.id)
        if url:
            entry["helpUri"] = url
        rules.append(entry)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        region = {"startLine": f.line, "startColumn": f.col, "endLine": f.end_line, "endColumn": f.end_col}
        message = f"cell {f.cell}: {f.message}" if f.cell is not None else f.message
        if f.cell is not None:
            # The region is where the code sits in the .ipynb file itself (what a SARIF viewer
            # shows); the cell and the line within it are in the message and the properties.
            locator = report.notebook_locators.get(f.path)
            start = locator(f.cell, f.line, f.col) if locator else None
            end = locator(f.cell, f.end_line, f.end_col) if locator else None
            if start and end:
                region = {"startLine": start[0], "startColumn": start[1], "endLine": end[0], "endColumn": end[1]}
            region["properties"] = {"cell": f.cell, "cellLine": f.line, "cellColumn": f.col}
        result = {
            "ruleId": f.rule_id,
            "level": LEVELS[report.severity(f)],
            "message": {"text": message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(f.path)},
                    "region": region,
                }
            }],
        }
        if f.rule_id in index:
            result["ruleIndex"] = index[f.rule_id]
        if f.cell is not None:
            result["properties"] = {"cell": f.cell}
        if f.marked and not report.strict_markers:
            result["suppressions"] = [{"kind": "inSource", "justification": "marked by porter (`# porter:` comment)"}]
        edits = report.edits_for(f)
        fix = report.fix(f)
        if edits and fix is not None:
            result["fixes"] = [{
                "description": {"text": fix.result or "porter port"},
                "artifactChanges": [{
                    "artifactLocation": {"uri": artifact_uri(f.path)},
                    "replacements": [{
                        "deletedRegion": {"startLine": e["location"]["row"], "startColumn": 1,
                                          "endLine": e["end_location"]["row"], "endColumn": 1},
                        "insertedContent": {"text": e["content"]},
                    } for e in edits],
                }],
            }]
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
