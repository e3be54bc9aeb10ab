"""What every report writer receives: the findings and the rules that produced them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

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
        # `porter port` does not rewrite notebooks: their findings are not promised a fix.
        if not (fix and fix.available and not finding.manual and finding.cell is None):
            return False
        return fix.applicability == ("unsafe" if unsafe else "safe")
