"""What every report writer receives: the findings and the rules that produced them."""

from __future__ import annotations

from dataclasses import dataclass

from porter.source.catalogue import Catalogue, Rule
from porter.source.findings import Finding


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
