"""GitHub Actions workflow commands: annotations on the pull request's diff."""

from __future__ import annotations

from porter.report.base import LintReport, display_path

LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _escape(value: str, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def render_github(report: LintReport) -> str:
    lines = []
    for f in report.failures:  # a marked site is acknowledged: no annotation
        level = LEVELS[report.severity(f)]
        # a notebook's line counts within its cell: the cell is in the title and the message
        title = f"porter ({f.rule_id})" + (f" cell {f.cell}" if f.cell is not None else "")
        props = (
            f"title={_escape(title, True)},file={_escape(display_path(f.path), True)},"
            f"line={f.line},col={f.col},endLine={f.end_line},endColumn={f.end_col}"
        )
        lines.append(f"::{level} {props}::{_escape(f'{display_path(f.location)}: {f.rule_id} {f.message}')}")
    return "\n".join(lines) + ("\n" if lines else "")
