"""The `# porter: NRNxxx <what to do>` markers port leaves above statements it could not fix."""

from __future__ import annotations

import re

import libcst as cst

from porter.source.catalogue import Fix, Rule

MARKER = re.compile(r"#\s*porter:\s*(NRN\d{3})\b")


def _marker_text(rule: Rule, fix: Fix, reason: str = "", site_only: bool = False, name: str = "") -> str:
    if site_only:  # the rule has a fix, but lint saw this site cannot take it
        what = f"{rule.title}: not rewritten here, {reason}"
    else:
        what = (fix.marker or fix.result or rule.title).replace("{name}", name or "this construct")
        if reason:
            what = f"{what} ({reason})"
    what = " ".join(what.replace("`", "").split())
    return f"# porter: {rule.id} {what}"


def _existing_markers(stmt: cst.CSTNode) -> set[str]:
    lines = getattr(stmt, "leading_lines", ())
    return {MARKER.search(line.comment.value).group(1) for line in lines
            if line.comment is not None and MARKER.search(line.comment.value)}


def _markers_above(stmt: cst.CSTNode, parents: dict) -> set[str]:
    """Rule ids marked above this statement, or above the compound statements it opens.

    A guarded import's marker sits above its `try:`; the import inside is the first statement of
    that block, so the marker counts as its own on the next port.
    """
    found = set(_existing_markers(stmt))
    node = stmt
    while True:
        block = parents.get(node)
        if isinstance(block, cst.Module) and block.body and block.body[0] is node:
            # Comments at the very top of a file belong to the module's header in libcst.
            found |= {m.group(1) for line in block.header if line.comment is not None
                      for m in [MARKER.search(line.comment.value)] if m}
            return found
        owner = parents.get(block) if isinstance(block, cst.IndentedBlock) else None
        if owner is None or not block.body or block.body[0] is not node:
            return found
        found |= _existing_markers(owner)
        node = owner
