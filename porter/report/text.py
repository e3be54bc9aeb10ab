"""`path:line:col: ID message`, ruff's concise format, with `[*]` where a fix exists."""

from __future__ import annotations

from porter.report.base import LintReport


def render_text(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        marker = " [marked]" if f.marked else (" [*]" if report.fixable(f) else "")
        lines.append(f"{f.location}: {f.rule_id}{marker} {f.message}")
    failing = report.failures
    marked = [f for f in report.findings if f.marked]
    n = len(failing)
    if marked and not report.strict_markers:
        lines.append(f"{len(marked)} marked site{'s' if len(marked) != 1 else ''} acknowledged (`# porter:` markers "
                     "above them; not failures without --strict-markers).")
    if n:
        fixable = sum(1 for f in report.findings if report.fixable(f))
        lines.append(f"Found {n} finding{'s' if n != 1 else ''} (target: {report.target}).")
        if fixable:
            lines.append(f"[*] {fixable} fixable with `porter port` (target {report.target}).")
        unsafe = sum(1 for f in report.findings if report.fixable(f, unsafe=True))
        if unsafe:
            lines.append(f"{unsafe} more fixable with `porter port --unsafe-fixes` (they change numerics).")
    else:
        lines.append("All checks passed!")
    lines += report.notes
    return "\n".join(lines) + "\n"

