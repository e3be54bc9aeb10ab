"""libcst node positions and parents at the cost of one code generation, and code generation that
reuses the text of nodes a rewrite left as they were.

libcst's `PositionProvider` updates a line and a column for every token it emits (a regex split per
token) and walks the whole tree once more through the metadata wrapper's batched visitor: on a big
file it cost more than the parse. Here code generation records, for each node, the index of the
token where it starts and ends; token indices become character offsets by one running sum, and
offsets become (line, column) only for the nodes asked about. The ranges are libcst's own: the
hook that replaces libcst's `_codegen` for the pass notes what its `before_codegen` and
`after_codegen` would, and `record_syntactic_position` marks syntactic ranges, so a range is the
one `PositionProvider` gives (tests/rewrite/test_positions.py compares the two).

The same pass notes each node's parent (the node whose code generation asked for it) and what its
text depended on: the arguments its parent passed (a default comma) and the indent it was written
at. `generate` then writes a tree rewritten from this one with an unchanged node's old text in one
piece instead of walking it again: a port's rewrite touches a few paths of a tree whose code was
generated once already. Whitespace and line breaks, near half the nodes, are left out of all this:
no fix asks for their position or parent.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import accumulate
from typing import Any

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

# libcst's own line breaks (libcst.metadata.position_provider): \r\n, \r or \n.
_NEWLINE = re.compile(r"\r\n?|\n")
_LIBCST_CODEGEN = cst.CSTNode._codegen
# Whitespace and line breaks, nearly half of a tree's nodes: no fix asks for their position or
# parent, and their text is a token of its own, so they are neither noted nor reused.
_UNNOTED = frozenset({cst.SimpleWhitespace, cst.Newline})


class _SpanState(CodegenState):
    """Code generation that notes each node's tokens, parent and context (see `_recording_codegen`)."""

    __slots__ = ("syntactic", "popped", "parents", "current", "contexts", "indent")

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        # node → (first token, end token, its parent's arguments, the indent it was written at)
        self.contexts: dict[cst.CSTNode, tuple[int, int, dict, tuple[str, ...]]] = {}
        # node → (first token, end token) of its syntactic range, where libcst records one
        self.syntactic: dict[cst.CSTNode, tuple[int, int]] = {}
        self.popped = ""
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.current: cst.CSTNode | None = None
        self.indent: tuple[str, ...] = ()  # indent_tokens, as one value per change of indent

    def increase_indent(self, value: str) -> None:
        self.indent_tokens.append(value)
        self.indent = tuple(self.indent_tokens)

    def decrease_indent(self) -> None:
        self.indent_tokens.pop()
        self.indent = tuple(self.indent_tokens)

    def pop_trailing_newline(self) -> None:
        # PositionProvider counts the module's last newline too: kept for the ranges, noted for the code.
        self.popped = self.tokens[-1] if self.tokens else ""

    def _range(self, node: cst.CSTNode) -> tuple[int, int]:
        found = self.syntactic.get(node)
        return found if found is not None else self.contexts[node][:2]

    @contextmanager
    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None,
                                  end_node: cst.CSTNode | None = None) -> Iterator[None]:
        start = len(self.tokens)
        try:
            yield
        finally:
            end = len(self.tokens)
            if start_node is not None:
                start = self._range(start_node)[0]
            if end_node is not None:
                end = self._range(end_node)[1]
            self.syntactic[node] = (start, end)


class _ReuseState(CodegenState):
    """Code generation that writes the unchanged nodes of a tree it was rewritten from as their text."""

    __slots__ = ("contexts", "offsets", "text", "indent")

    def __init__(self, module: cst.Module, reuse: Positions) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.contexts, self.offsets, self.text = reuse.contexts, reuse.offsets, reuse.text
        self.indent: tuple[str, ...] = ()

    increase_indent = _SpanState.increase_indent
    decrease_indent = _SpanState.decrease_indent

    def pop_trailing_newline(self) -> None:
        # The last token may be a reused node's whole text: only its final line break goes.
        if self.tokens:
            last = self.tokens.pop()
            self.tokens.append(last[:-2] if last.endswith("\r\n") else last[:-1])


def _recording_codegen(node: cst.CSTNode, state: CodegenState, **kwargs: Any) -> None:
    """libcst's `CSTNode._codegen` while Positions generates code, noting here what its
    `before_codegen`/`after_codegen` hooks would: one call per node instead of three."""
    if type(state) is not _SpanState:
        _LIBCST_CODEGEN(node, state, **kwargs)
        return
    if type(node) in _UNNOTED:
        node._codegen_impl(state, **kwargs)
        return
    parent = state.current
    if parent is not None:
        state.parents[node] = parent
    indent, start = state.indent, len(state.tokens)
    state.current = node
    node._codegen_impl(state, **kwargs)
    state.current = parent
    state.contexts[node] = (start, len(state.tokens), kwargs, indent)


def _reusing_codegen(node: cst.CSTNode, state: CodegenState, **kwargs: Any) -> None:
    if type(state) is not _ReuseState:
        _LIBCST_CODEGEN(node, state, **kwargs)
        return
    old = state.contexts.get(node)
    if old is not None and old[2] == kwargs and old[3] == state.indent:
        state.tokens.append(state.text[state.offsets[old[0]]:state.offsets[old[1]]])
    else:
        node._codegen_impl(state, **kwargs)


@contextmanager
def _codegen_hook(hook) -> Iterator[None]:
    cst.CSTNode._codegen = hook
    try:
        yield
    finally:
        cst.CSTNode._codegen = _LIBCST_CODEGEN


def generate(module: cst.Module, reuse: Positions) -> str:
    """`module.code`, for a tree rewritten from the one `reuse` was made of: a node of that tree
    generated with the same arguments at the same indent is written as its old text."""
    state = _ReuseState(module, reuse)
    with _codegen_hook(_reusing_codegen):
        module._codegen_impl(state)  # the module itself is generated anew: its end drops a line break
    return "".join(state.tokens)


class Positions(Mapping[cst.CSTNode, CodeRange]):
    """Every node of `module` → its CodeRange (lines from 1, columns from 0, as PositionProvider),
    the character offsets behind them, and each node's parent (`parents`, as libcst's
    ParentNodeProvider); but for whitespace and line breaks (`_UNNOTED`)."""

    def __init__(self, module: cst.Module) -> None:
        state = _SpanState(module)
        with _codegen_hook(_recording_codegen):
            module._codegen(state)
        self.offsets = offsets = [0, *accumulate(map(len, state.tokens))]
        self.contexts = state.contexts  # in token indices: `offsets` turns them into characters
        self.spans: dict[cst.CSTNode, tuple[int, int]] = {
            node: (offsets[context[0]], offsets[context[1]]) for node, context in state.contexts.items()}
        self.spans.update((node, (offsets[start], offsets[end])) for node, (start, end) in state.syntactic.items())
        self.parents = state.parents
        self.text = code = "".join(state.tokens)
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

