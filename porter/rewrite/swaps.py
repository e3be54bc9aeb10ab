"""Kernel swaps in a port: which sites now call porter's drop-ins, and which do not, with the reason.

The swap rules (NRN411-414, `transform = "swap-import"`) rewrite imports only: their uses keep their
names and arguments. So a use is swapped exactly when the import it resolves through was, and when
its call passes nothing the shim refuses (an argument or bias another rule, NRN415 / NRN418, found
inside the call). An import that brings in names with and without a drop-in is split: the former
come from `porter.kernels.compat`, the latter stay behind (guarded by the package's own rule,
NRN401-405, and marked with the names). Every kernel-library site that is not swapped is listed
with its reason, so the report never claims a swap the code does not make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from porter.rewrite.import_split import ImportSplit, split_swap_import
from porter.source.catalogue import Catalogue, Fix, Rule
from porter.source.findings import Finding

COMPAT = "porter.kernels.compat"
SWAPPED, NOT_SWAPPED = "swapped", "not-swapped"


@dataclass
class Site:
    finding: Finding
    rule: Rule
    fix: Fix
    change: object  # file_port.Change
    node: cst.CSTNode | None
    stmt: cst.CSTNode | None

    @property
    def is_swap(self) -> bool:
        return self.fix.transform == "swap-import"


def swap_roots(catalogue: Catalogue) -> set[str]:
    """The packages the swap rules cover (`flash_attn`, `xformers`, ...)."""
    return {name.split(".")[0] for rule in catalogue if any(f.transform == "swap-import" for f in rule.fixes.values())
            for name in rule.names_exact}


def _inside_import(node: cst.CSTNode | None, parents: dict) -> bool:
    while node is not None and not isinstance(node, cst.BaseStatement):
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            return True
        node = parents.get(node)
    return False


class SwapPlan:
    """Collects a file's located findings during the port, then settles the swap sites."""

    def __init__(self, catalogue: Catalogue, parents: dict) -> None:
        self.roots = swap_roots(catalogue)
        self.parents = parents
        self.sites: list[Site] = []

    def add(self, finding: Finding, rule: Rule, fix: Fix, change, node, stmt) -> None:
        self.sites.append(Site(finding, rule, fix, change, node, stmt))

    def resolve(self, mark: Callable) -> dict[cst.CSTNode, ImportSplit]:
        """Split the swapped imports, settle every swap site, mark what is not swapped; the splits by statement."""
        imports: dict[cst.CSTNode, list[Site]] = {}
        uses: list[Site] = []
        for site in self.sites:
            if site.is_swap and site.node is not None:
                if _inside_import(site.node, self.parents):
                    imports.setdefault(site.stmt, []).append(site)
                else:
                    uses.append(site)
        splits: dict[cst.CSTNode, ImportSplit] = {}
        bindings: dict[str, tuple[bool, str]] = {}
        for stmt, sites in imports.items():
            if isinstance(stmt, cst.SimpleStatementLine):
                swappable = {name: site.fix.to for site in sites for name in site.rule.names_exact}
                split = split_swap_import(stmt, swappable)
            else:
                split = ImportSplit(None, None)
            for site in sites:
                name = site.finding.matched
                if name in split.done:
                    self._swapped(site, split.done[name])
                    bindings[name] = (True, split.done[name])
                else:
                    reason = split.kept.get(name) or "the import is not on a line of its own"
                    self._not_swapped(site, reason)
                    mark(site.stmt, site.rule, site.fix, reason, site_only=True)
                    bindings[name] = (False, reason)
            if split.swapped is not None:
                splits[stmt] = split
                if split.kept:
                    # the package's own rule guards what stays; its marker names what that is
                    kept = ", ".join(split.kept)
                    for other in self.sites:
                        if other.stmt is stmt and not other.is_swap and other.fix.applicability != "none":
                            mark(stmt, other.rule, other.fix,
                                 f"not swapped: {kept}; the other names come from {COMPAT}")
        calls: dict[cst.CSTNode, Site] = {}
        for site in uses:
            bound = self._binding(site.finding.matched, bindings)
            if bound is None:
                self._not_swapped(site, f"its import of {site.finding.matched} was not swapped in this file")
                mark(site.stmt, site.rule, site.fix, "its import was not swapped", site_only=True)
            elif not bound[0]:
                self._not_swapped(site, f"its import is not swapped: {bound[1]}")
                mark(site.stmt, site.rule, site.fix, f"its import is not swapped ({bound[1]})", site_only=True)
            else:
                self._swapped(site, f"{site.fix.to}.{site.finding.matched}")
                call = self.parents.get(site.node)
                if isinstance(call, cst.Call) and call.func is site.node:
                    calls[call] = site
        # An argument or a bias the shim refuses, inside a swapped call: that call is not swapped either.
        refused: dict[int, list[Site]] = {}
        contributed: set[int] = set()
        for other in self.sites:
            if other.is_swap or other.node is None or not self._refuses(other):
                continue
            call = self._enclosing_call(other.node, calls)
            if call is not None:
                refused.setdefault(id(calls[call]), []).append(other)
                contributed.add(id(other))
        for site in uses:
            reasons = refused.get(id(site))
            if reasons:
                self._not_swapped(site, "; ".join(dict.fromkeys(r.finding.message for r in reasons)))
                site.change.covered_by = ", ".join(dict.fromkeys(r.rule.id for r in reasons))
        # The libraries' other sites (no drop-in, refused bias classes): not swapped, with the reason.
        for other in self.sites:
            if other.is_swap or id(other) in contributed:
                continue
            name = other.finding.matched
            if "=" in name or name.split(".")[0] not in self.roots:
                continue
            other.change.swap = NOT_SWAPPED
            if other.fix.transform == "guard-import":
                other.change.detail = f"porter has no drop-in for {name}"
            else:
                other.change.detail = other.finding.message
        return splits

    @staticmethod
    def finish(sites: list[Site]) -> None:
        """After the rewrite: a fix that renames a call to a `porter.kernels.compat` function is a swap too."""
        for site in sites:
            fix = site.fix
            if site.change.action == "fixed" and fix.transform == "rename" and fix.to.startswith(COMPAT + "."):
                site.change.swap = SWAPPED
                site.change.detail = f"now calls {fix.to}"

    def _refuses(self, site: Site) -> bool:
        """A kernel-library construct without a fix (NRN415, NRN418): inside a swapped call, the shim raises on it."""
        rule = site.rule
        if rule.category != "kernels" or site.fix.available:
            return False
        return site.finding.matched.split(".")[0] in self.roots or any(
            m.kind == "call" and any(c.split(".")[0] in self.roots for c in m.callee) for m in rule.matchers)

    @staticmethod
    def _binding(name: str, bindings: dict[str, tuple[bool, str]]) -> tuple[bool, str] | None:
        best = None
        for bound, state in bindings.items():
            if (name == bound or name.startswith(bound + ".")) and (best is None or len(bound) > len(best[0])):
                best = (bound, state)
        return best[1] if best else None

    def _enclosing_call(self, node: cst.CSTNode, calls: dict) -> cst.Call | None:
        node = self.parents.get(node)
        while node is not None and not isinstance(node, (cst.BaseStatement, cst.Lambda)):
            if node in calls:
                return node
            node = self.parents.get(node)
        return None

    @staticmethod
    def _swapped(site: Site, calls: str) -> None:
        site.change.action, site.change.swap, site.change.detail = "fixed", SWAPPED, f"now calls {calls}"

    @staticmethod
    def _not_swapped(site: Site, reason: str) -> None:
        site.change.action, site.change.swap, site.change.detail = "marked", NOT_SWAPPED, reason
