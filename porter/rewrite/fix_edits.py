"""The edits a finding's fix makes, for JSON and SARIF reports (ruff's `fix.edits`).

`porter port` rewrites a whole file at once (a fix may add a helper or an import too), so the edits
come from porting the file and diffing: each changed block of lines goes to the findings it
overlaps, and a block no finding overlaps (a helper function, an import) to every fixed finding of
the file, as ruff lists an import edit with each fix that needs it. A safe fix's edits come from
`porter port`, an unsafe fix's from `porter port --unsafe-fixes`: applying the edits of a file's
safe fixes gives `porter port`'s result for it, and a consumer that applies safe fixes only never
changes numerics.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from pathlib import Path

from porter.rewrite.fileio import source_lines
from porter.rewrite.line_diff import changed_blocks
from porter.rewrite.narrow import port_source_narrow
from porter.source.catalogue import Catalogue
from porter.source.engine import RuleIndex
from porter.source.findings import Finding
from porter.source.runner import decode_python

Key = tuple[str, int, int, str]


def finding_key(f: Finding) -> Key:
    return f.path, f.line, f.col, f.rule_id


def fix_edits(findings: list[Finding], catalogue: Catalogue, target: str, rule_ids: set[str],
              sources: dict[str, bytes] | None = None) -> dict[Key, list[dict]]:
    """Edits per finding (by `finding_key`), for the findings whose fix porter applies at their site.
    `sources`: the bytes of files not on disk (stdin), by path."""
    def fixable(f: Finding) -> bool:
        rule = catalogue.get(f.rule_id)
        return (rule is not None and rule.fix_for(target).available and not f.manual and f.in_rewritten_file
                and not f.suppressed)

    by_file: dict[str, list[Finding]] = defaultdict(list)
    everything: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        everything[f.path].append(f)
        if fixable(f):
            by_file[f.path].append(f)
    if not by_file:
        return {}
    rules = [r for r in (catalogue.get(i) for i in sorted(rule_ids)) if r is not None and r.matchers]
    index = RuleIndex.build(rules, target=target)
    edits: dict[Key, list[dict]] = {}
    for path, file_findings in by_file.items():
        try:
            data = sources[path] if sources and path in sources else Path(path).read_bytes()
            text = decode_python(data, path)
        except OSError:
            continue
        if not isinstance(text, str):
            continue
        # A safe fix's edits come from `porter port`, an unsafe one's from `--unsafe-fixes`: the
        # edits of a safe fix never carry an unsafe change made on the same line.
        by_kind: dict[bool, list[Finding]] = defaultdict(list)
        for f in file_findings:
            by_kind[catalogue.get(f.rule_id).fix_for(target).applicability == "unsafe"].append(f)
        lines = source_lines(text)
        anywhere = _Spans(everything[path])
        for unsafe, kind_findings in by_kind.items():
            blocks = _blocks(text, lines, path, index, catalogue, target, unsafe)
            # a block at no finding (a helper, an import) belongs to every fix; one at a site that
            # is only marked (a `# porter:` comment) to none
            shared = [b for b in blocks if not anywhere.overlap(b)]
            for f in kind_findings:
                own = _overlapping(blocks, f)
                if own:
                    edits[finding_key(f)] = [_edit(b, lines) for b in sorted(own + shared)]
    return edits


class _Spans:
    """The findings' line spans, asked whether any overlaps a block (bisect, not a scan per block)."""

    def __init__(self, findings: list[Finding]) -> None:
        spans = sorted((f.line, f.end_line) for f in findings)
        self.starts = [start for start, _ in spans]
        self.reach: list[int] = []  # the furthest end_line among the spans starting so far
        for _, end in spans:
            self.reach.append(max(end, self.reach[-1]) if self.reach else end)

    def overlap(self, block: tuple[int, int, str]) -> bool:
        first, last = _span(block)
        k = bisect.bisect_right(self.starts, last)  # the spans starting by the block's last line
        return k > 0 and self.reach[k - 1] >= first


def _overlapping(blocks: list[tuple[int, int, str]], f: Finding) -> list[tuple[int, int, str]]:
    """The blocks (in order, disjoint) that overlap a finding's lines."""
    k = bisect.bisect_left(blocks, f.line, key=lambda b: _span(b)[1])
    own = []
    while k < len(blocks) and _span(blocks[k])[0] <= f.end_line:
        own.append(blocks[k])
        k += 1
    return own


def _span(block: tuple[int, int, str]) -> tuple[int, int]:
    i1, i2, _ = block  # 0-based lines [i1, i2) of the original are replaced
    return i1 + 1, max(i2, i1 + 1)


def _blocks(text: str, before: list[str], path: str, index: RuleIndex, catalogue: Catalogue, target: str,
            unsafe: bool) -> list[tuple[int, int, str]]:
    """The changed blocks of lines porting the file makes: (first, end) 0-based original lines, new text.
    `before`: the file's lines (`source_lines(text)`)."""
    try:
        port = port_source_narrow(text, path, index, catalogue, target, unsafe)
    except Exception:  # a file the port cannot handle simply gets no edits
        return []
    if port.error or not port.changed:
        return []
    after = source_lines(port.ported)
    return [(i1, i2, "".join(after[j1:j2])) for _, i1, i2, j1, j2 in changed_blocks(before, after)]


def _edit(block: tuple[int, int, str], lines: list[str]) -> dict:
    i1, i2, content = block
    end = {"row": i2 + 1, "column": 1}
    if i2 and i2 == len(lines) and not lines[-1].endswith(("\n", "\r")):
        # the block runs to the end of a last line with no newline: end there, not on a line that
        # does not exist (ruff's end_location)
        end = {"row": i2, "column": len(lines[-1]) + 1}
    return {"content": content, "location": {"row": i1 + 1, "column": 1}, "end_location": end}
