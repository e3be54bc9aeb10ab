"""libcst node positions at the cost of one code generation.

libcst's `PositionProvider` updates a line and a column for every token it emits (a regex split per
token) and walks the whole tree once more through the metadata wrapper's batched visitor: on a big
file it cost more than the parse. Here code generation records, for each node, the index of the
token where it starts and ends; token indices become character offsets by one running sum, and
offsets become (line, column) only for the nodes asked about. The ranges are libcst's own: the same
hooks (`before_codegen`, `after_codegen`, `record_syntactic_position`) mark them, so a range is
the syntactic one `PositionProvider` gives (tests/rewrite/test_positions.py compares the two).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import accumulate

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

# libcst's own line breaks (libcst.metadata.position_provider): \r\n, \r or \n.
_NEWLINE = re.compile(r"\r\n?|\n")


class _SpanState(CodegenState):
    """Code generation that notes each node's first and last token index."""

    __slots__ = ("spans", "_starts", "popped")

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.spans: dict[cst.CSTNode, tuple[int, int]] = {}
        self._starts: list[int] = []
        self.popped = ""

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._starts.pop()
        if node not in self.spans:  # a syntactic range recorded while generating it wins
            self.spans[node] = (start, len(self.tokens))

    def pop_trailing_newline(self) -> None:
        # PositionProvider counts the module's last newline too: kept for the ranges, noted for the code.
        self.popped = self.tokens[-1] if self.tokens else ""

    @contextmanager
    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None,
                                  end_node: cst.CSTNode | None = None) -> Iterator[None]:
        start = len(self.tokens)
        try:
            yield
        finally:
            end = len(self.tokens)
            if start_node is not None:
                start = self.spans[start_node][0]
            if end_node is not None:
                end = self.spans[end_node][1]
            self.spans[node] = (start, end)


class Positions(Mapping[cst.CSTNode, CodeRange]):
    """Every node of `module` → its CodeRange (lines from 1, columns from 0, as PositionProvider),
    and the character offsets behind them."""

    def __init__(self, module: cst.Module) -> None:
        state = _SpanState(module)
        module._codegen(state)
        offsets = [0, *accumulate(map(len, state.tokens))]
        self.spans: dict[cst.CSTNode, tuple[int, int]] = {
            node: (offsets[start], offsets[end]) for node, (start, end) in state.spans.items()}
        code = "".join(state.tokens)
        # the module's code, as `module.code` gives it (without the newline libcst pops at the end)
        self.code = code[: len(code) - len(state.popped)]
        self.line_starts = [0, *(m.end() for m in _NEWLINE.finditer(code))]
        self._length = len(code)

    def offset(self, line: int, column: int) -> int | None:
        """The character offset of (line from 1, column from 0), or None when it is not in the code."""
        if not 1 <= line <= len(self.line_starts) or column < 0:
            return None
        start = self.line_starts[line - 1]
        if line < len(self.line_starts):  # a column past the line's break is not on this line
            return start + column if start + column < self.line_starts[line] else None
        return start + column if start + column <= self._length else None

    def position(self, offset: int) -> CodePosition:
        line = bisect_right(self.line_starts, offset)
        return CodePosition(line, offset - self.line_starts[line - 1])

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        start, end = self.spans[node]
        return CodeRange(self.position(start), self.position(end))

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)
