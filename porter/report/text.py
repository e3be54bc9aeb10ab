"""`path:line:col: ID message`, ruff's concise format, with `[*]` where a fix exists."""

from __future__ import annotations

from collections import Counter

from porter.report.base import LintReport


def render_text(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        marker = " [*]" if report.fixable(f) else ""
        lines.append(f"{f.location}: {f.rule_id}{marker} {f.message}")
    n = len(report.findings)
    if n:
        fixable = sum(1 for f in report.findings if report.fixable(f))
        lines.append(f"Found {n} finding{'s' if n != 1 else ''} (target: {report.target}).")
        if fixable:
            lines.append(f"[*] {fixable} fixable with `porter port` (target {report.target}).")
    else:
        lines.append("All checks passed!")
    return "\n".join(lines) + "\n"


def render_statistics(report: LintReport) -> str:
    counts = Counter(f.rule_id for f in report.findings)
    lines = []
    for rule_id, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = report.catalogue.get(rule_id)
        fix = rule.fix_for(report.target) if rule else None
        marker = "[*]" if fix and fix.available else "[ ]"
        name = rule.name if rule else ""
        lines.append(f"{count:6d}  {rule_id}  {marker} {name}")
    return "\n".join(lines) + ("\n" if lines else "")
