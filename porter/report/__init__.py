"""Report writers: text, json, sarif, github, junit (lint) and markdown (port, parity)."""

from __future__ import annotations

from collections.abc import Callable

from porter.report.base import LintReport
from porter.report.github import render_github
from porter.report.json_report import render_json
from porter.report.junit import render_junit
from porter.report.sarif import render_sarif
from porter.report.statistics import STATISTICS_FORMATS, render_statistics
from porter.report.text import render_text

LINT_FORMATS: dict[str, Callable[[LintReport], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
    "junit": render_junit,
}

__all__ = ["LINT_FORMATS", "STATISTICS_FORMATS", "LintReport", "render_statistics"]
