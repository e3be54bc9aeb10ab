"""Sites another applied fix already resolved are not left to do (see _settle_resolved)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import libcst as cst

from porter.rewrite.nodes import _statement_of
from porter.rewrite.results import Change, FilePort
from porter.rewrite.sites import SiteIndex
from porter.source.engine import RuleIndex, analyse_source

RESOLVED = "resolved by another fix at this site"


def _site_of(change: Change, where: dict, sites: SiteIndex) -> cst.CSTNode | None:
    finding = where.get((change.rule_id, change.line, change.col))
    return sites.locate(finding) if finding is not None else None


def _inside_edit(node: cst.CSTNode | None, parents: dict, edits: dict) -> bool:
    while node is not None and node not in edits:
        node = parents.get(node)
    return node is not None


def _settle_resolved(result: FilePort, findings, sites: SiteIndex, parents: dict, edits: dict,
                     index: RuleIndex, path: str, markers: dict,
                     whole_text: Callable[[str], str | None] | None = None,
                     left_to_do: Counter[str] | None = None) -> None:
    """A finding is not left to do when another applied fix already rewrote its construct away:
    NRN202 turns `torch.autocast("cuda", dtype=torch.float16)` into bf16, which resolves NRN207
    (fp16 autocast); NRN101 turns `.cuda("cuda:0")` into `.to(_porter_device(0))`, which resolves
    the NRN105 device string. The ported text is analysed again; a rule with fewer findings left
    than sites not fixed had sites resolved, taken among those inside a rewritten node. A resolved
    site's marker (added by this port) is taken out again when it is unambiguous. A file ported
    through its cut (porter.rewrite.narrow) is analysed whole: what a finding means can depend on
    code the cut left out (a device bound a few statements earlier)."""
    pending = [c for c in result.changes if c.action in ("unsafe-skipped", "marked")]
    if not pending or not edits or not result.changed:
        return
    where = {(f.rule_id, f.line, f.col): f for f in findings}
    if not any(_inside_edit(_site_of(c, where, sites), parents, edits) for c in pending):
        return  # only a site inside a rewritten node can have been resolved: no need to analyse again
    after: dict[str, int] = {}
    analysed = (whole_text(result.ported) if whole_text else None) or result.ported
    for finding in analyse_source(analysed, path, index):
        if not finding.suppressed:
            after[finding.rule_id] = after.get(finding.rule_id, 0) + 1
    code = result.ported
    for rule_id in dict.fromkeys(c.rule_id for c in pending):
        expected = sum(1 for c in result.changes if c.rule_id == rule_id and c.action != "fixed")
        expected += (left_to_do or {}).get(rule_id, 0)
        resolved = expected - after.get(rule_id, 0)
        for change in [c for c in pending if c.rule_id == rule_id]:
            if resolved <= 0:
                break
            site = _site_of(change, where, sites)
            if not _inside_edit(site, parents, edits):
                continue
            if change.action == "marked":
                # One marker per rule and statement: it goes only if it is this site's alone.
                stmt = _statement_of(site, parents)
                sharing = [c for c in pending if c.rule_id == rule_id and c.action == "marked"
                           and _statement_of(_site_of(c, where, sites), parents) is stmt]
                texts = [text for rid, text in markers.get(stmt, ()) if rid == rule_id]
                lines = code.splitlines(keepends=True)
                block = texts[0].split("\n") if texts else []  # a marker wrapped to the line length is a block
                at = [i for i in range(len(lines)) if block and [x.strip() for x in lines[i:i + len(block)]] == block]
                if len(sharing) != 1 or len(texts) != 1 or len(at) != 1:
                    continue  # the marker cannot be told apart from another: it stays, and so does the item
                code = "".join(lines[:at[0]] + lines[at[0] + len(block):])
            change.action, change.detail = "fixed", RESOLVED
            resolved -= 1
    result.ported = code
