"""What every report writer receives: the findings and the rules that produced them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from porter.source.catalogue import Catalogue, Rule
from porter.source.findings import Finding


def display_path(path: str) -> str:
    """A path as valid UTF-8 text: the bytes of a non-UTF-8 file name (held as surrogates, PEP 383)
    are spelled `\\xe9`, for formats (XML, annotations) that cannot carry raw bytes."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


def write_stdout(text: str) -> None:
    """Write to stdout; a non-UTF-8 file name (held as surrogates, PEP 383) goes out as its own bytes."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a replaced stdout (tests, IDEs) takes text
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8", "surrogateescape"))
    buffer.flush()


@dataclass
class LintReport:
    findings: list[Finding]
    catalogue: Catalogue
    target: str
    # Marked sites (`# porter: NRNxxx` above them) fail the run only with --strict-markers.
    strict_markers: bool = False
    # Lines the text report adds under its summary: findings a baseline knew, lines outside --diff-base.
    notes: list[str] = field(default_factory=list)
    # The edits of each finding's fix (porter.rewrite.fix_edits), by (path, line, col, rule id);
    # filled in for the JSON and SARIF formats.
    edits: dict = field(default_factory=dict)
    # Per notebook path: (cell, line, col) -> (line, col) in the .ipynb text (porter.source.notebook_positions).
    notebook_locators: dict = field(default_factory=dict)

    def edits_for(self, finding: Finding) -> list[dict]:
        return self.edits.get((finding.path, finding.line, finding.col, finding.rule_id), [])

    @staticmethod
    def docs_url(rule_id: str) -> str | None:
        from porter.source.rule_docs import rule_docs_url

        return rule_docs_url(rule_id)

    def failing(self, finding: Finding) -> bool:
        """Does this finding fail the run (exit 1)? A marked site does only with --strict-markers."""
        return self.strict_markers or not finding.marked

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if self.failing(f)]

    def rule(self, finding: Finding) -> Rule | None:
        return self.catalogue.get(finding.rule_id)

    def severity(self, finding: Finding) -> str:
        rule = self.rule(finding)
        return rule.severity if rule else "error"

    def fix(self, finding: Finding):
        rule = self.rule(finding)
        return rule.fix_for(self.target) if rule else None

    def fixable(self, finding: Finding, unsafe: bool = False) -> bool:
        """Does `porter port` fix this site by default? With `unsafe`: only with `--unsafe-fixes`.
        As in ruff, `[*]` promises the safe fixes; the unsafe ones are counted apart."""
        fix = self.fix(finding)
        # `porter port` does not rewrite notebooks or stubs: their findings are not promised a fix.
        if not (fix and fix.available and not finding.manual and finding.in_rewritten_file):
            return False
        return fix.applicability == ("unsafe" if unsafe else "safe")
