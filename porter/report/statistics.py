"""`--statistics`: findings counted per rule, as text or (like ruff) as a JSON array."""

from __future__ import annotations

import json
from collections import Counter

from porter.report.base import LintReport


def statistics_records(report: LintReport) -> list[dict]:
    """One record per rule, most frequent first: code, name, count, fixable (for the target)."""
    counts = Counter(f.rule_id for f in report.findings)
    records = []
    # Fixable when `porter port` fixes some of the rule's findings here (not notebook cells, not
    # sites lint saw cannot take the fix), as the `[*]` on each finding says.
    fixable = {f.rule_id for f in report.findings if report.fixable(f)}
    for rule_id, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = report.catalogue.get(rule_id)
        records.append({"code": rule_id, "name": rule.name if rule else None, "count": count,
                        "fixable": rule_id in fixable})
    return records


def render_statistics(report: LintReport) -> str:
    lines = [f"{r['count']:6d}  {r['code']}  {'[*]' if r['fixable'] else '[ ]'} {r['name'] or ''}".rstrip()
             for r in statistics_records(report)]
    return "\n".join(lines) + ("\n" if lines else "")


def render_statistics_json(report: LintReport) -> str:
    return json.dumps(statistics_records(report), indent=2) + "\n"


# The output formats --statistics can be written in; the others (sarif, github, junit) describe
# findings at locations, so asking for statistics in them is a usage error.
STATISTICS_FORMATS = {"text": render_statistics, "json": render_statistics_json}
