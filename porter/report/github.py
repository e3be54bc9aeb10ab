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
        # a notebook finding is annotated where its code sits in the .ipynb file (the line of the
        # diff GitHub shows); the cell and the line within it are in the title and the message
        title = f"porter ({f.rule_id})" + (f" cell {f.cell}" if f.cell is not None else "")
        start, end = (f.line, f.col), (f.end_line, f.end_col)
        locator = report.notebook_locators.get(f.path) if f.cell is not None else None
        if locator:
            placed_start, placed_end = locator(f.cell, f.line, f.col), locator(f.cell, f.end_line, f.end_col)
            if placed_start and placed_end:
                start, end = placed_start, placed_end
        props = (
            f"title={_escape(title, True)},file={_escape(display_path(f.path), True)},"
            f"line={start[0]},col={start[1]},endLine={end[0]},endColumn={end[1]}"
        )
        lines.append(f"::{level} {props}::{_escape(f'{display_path(f.location)}: {f.rule_id} {f.message}')}")
    return "\n".join(lines) + ("\n" if lines else "")
