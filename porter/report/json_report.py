"""JSON: one object per finding, the fields a CI script needs."""

from __future__ import annotations

import json

from porter.report.base import LintReport


def finding_records(report: LintReport) -> list[dict]:
    records = []
    for f in report.findings:
        rule = report.rule(f)
        fix = report.fix(f)
        records.append({
            "code": f.rule_id,
            "name": rule.name if rule else None,
            "message": f.message,
            "severity": report.severity(f),
            "filename": f.path,
            "cell": f.cell,
            "location": {"row": f.line, "column": f.col},
            "end_location": {"row": f.end_line, "column": f.end_col},
            "fix": {"applicability": fix.applicability, "message": fix.result, "edits": report.edits_for(f)}
                   if fix and fix.available and not f.manual and f.in_rewritten_file else None,
            "marked": f.marked,
            "target": report.target,
            "url": report.docs_url(f.rule_id),
        })
    return records


def render_json(report: LintReport) -> str:
    return json.dumps(finding_records(report), indent=2) + "\n"
