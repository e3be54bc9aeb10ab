"""From a lint finding (ast positions) to the libcst node it names.

Lint finds with CPython's ast; port rewrites with libcst. Both count lines from 1 and columns in
characters (libcst from 0), so a finding's range picks out the libcst node with the same range.
Method and attribute findings point at the attribute's name instead, which libcst also has as a
node of its own.
"""

from __future__ import annotations

from collections import defaultdict

import libcst as cst

from porter.rewrite.positions import Positions
from porter.source.findings import Finding

# When several nodes share a range (an Arg and its value, an AssignTarget and its Name), the
# first kind in this list is the one a fix wants.
PREFERENCE = (cst.Arg, cst.Call, cst.Attribute, cst.Name, cst.BaseExpression, cst.ImportAlias, cst.Decorator)


class SiteIndex:
    """The nodes findings can name, by character range. `findings`: the findings to be located
    (only nodes starting where one starts are indexed); all nodes when None."""

    def __init__(self, positions: Positions, findings: list[Finding] | None = None) -> None:
        self.positions = positions
        self.by_span: dict[tuple[int, int], list[cst.CSTNode]] = defaultdict(list)
        self.names_by_start: dict[int, cst.Name] = {}
        self._statements: list[tuple[int, int, cst.CSTNode]] | None = None
        wanted: set[int] | None = None
        if findings is not None:
            starts = {positions.offset(f.line, f.col - 1) for f in findings}
            wanted = starts | {start + 1 for start in starts if start is not None}  # a tuple's parentheses
        for node, span in positions.spans.items():
            if wanted is not None and span[0] not in wanted:
                continue
            self.by_span[span].append(node)
            if isinstance(node, cst.Name):
                self.names_by_start[span[0]] = node

    @property
    def statements(self) -> list[tuple[int, int, cst.CSTNode]]:
        if self._statements is None:
            self._statements = [(*span, node) for node, span in self.positions.spans.items()
                                if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement))]
        return self._statements

    def locate(self, finding: Finding) -> cst.CSTNode | None:
        offset = self.positions.offset
        start, end = offset(finding.line, finding.col - 1), offset(finding.end_line, finding.end_col - 1)
        if start is None or end is None:
            return None
        candidates = self.by_span.get((start, end))
        if candidates:
            for kind in PREFERENCE:
                for node in candidates:
                    if isinstance(node, kind):
                        return node
            return candidates[0]
        # ast's range of a parenthesised tuple, `window_size=(256, 0)`, includes its parentheses;
        # libcst's range of the Tuple node (which owns them) does not.
        inner = self.by_span.get((start + 1, end - 1), ())
        tuples = [node for node in inner if isinstance(node, cst.Tuple) and node.lpar]
        if tuples:
            return tuples[0]
        return self.names_by_start.get(start)

    def statement_at(self, line: int) -> cst.CSTNode | None:
        """The innermost statement spanning `line`: where a marker goes when the exact node is not found."""
        position = self.positions.position
        spans = [(position(end).line - position(start).line, node) for start, end, node in self.statements
                 if position(start).line <= line <= position(end).line]
        return min(spans, key=lambda item: item[0])[1] if spans else None
