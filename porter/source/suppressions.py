"""Inline suppressions: `# porter: ignore[NRN101]`, `# porter: ignore`, `# noqa: NRN101`, `# noqa`,
and the file-level `# porter: ignore-file` (optionally `# porter: ignore-file[NRN1]`); and
`mark_suppressed`, which applies them to a file's findings.
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize

from porter.source.findings import Finding, sort_key

# A code list accepts ids and prefixes: NRN101, NRN1.
_CODES = r"[A-Za-z]+\d*(?:\s*,\s*[A-Za-z]+\d*)*"
LINE_IGNORE = re.compile(
    r"#\s*(?:porter:\s*ignore(?!-file)(?:\[\s*(?P<porter>" + _CODES + r")\s*\])?"
    r"|noqa(?::\s*(?P<noqa>" + _CODES + r"))?)",
    re.IGNORECASE,
)
FILE_IGNORE = re.compile(
    r"^\s*#\s*porter:\s*ignore-file(?:\[\s*(?P<codes>" + _CODES + r")\s*\])?", re.IGNORECASE | re.M
)

ALL = frozenset({"*"})


def _codes(text: str | None) -> frozenset[str]:
    if not text:
        return ALL
    return frozenset(c.strip().upper() for c in text.split(",") if c.strip())


def line_suppressions(line: str) -> frozenset[str]:
    """The rule ids or prefixes a line's comment suppresses; ALL for a bare comment."""
    if "#" not in line:
        return frozenset()
    codes: set[str] = set()
    for match in LINE_IGNORE.finditer(line):
        codes |= _codes(match.group("porter") or match.group("noqa"))
    return frozenset(codes)


def file_suppressions(source: str) -> frozenset[str]:
    if "ignore-file" not in source:
        return frozenset()
    codes: set[str] = set()
    for match in FILE_IGNORE.finditer(source):
        codes |= _codes(match.group("codes"))
    return frozenset(codes)


def covers(codes: frozenset[str], rule_id: str) -> bool:
    return "*" in codes or any(rule_id.startswith(code) for code in codes)


def comment_lines(source: str) -> dict[int, str] | None:
    """The comment on each line (1-based) of the source; None when it does not tokenize."""
    out: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                out[token.start[0]] = token.string
    except (tokenize.TokenError, SyntaxError):
        return None
    return out


class Comments:
    """The comment on a line, read as the tokenizer reads it (a `#` in a string is none), tokenizing
    only the top-level statement that holds the line. The tokenizer's state where a top-level
    statement starts is the same as at the file's start (no string or bracket open, no indent), so
    the statement's text alone gives the comments the whole file's would: a large file with one
    `# noqa` line costs the tokenizing of one statement, not of the file."""

    def __init__(self, source: str, lines: list[str], tree: ast.Module | None) -> None:
        self.source = source
        self.lines = lines
        # a lone `\r` ends a line for the parser, not for `lines`: the tree's line numbers would not fit
        lone_cr = "\r" in source and source.count("\r") != source.count("\r\n")
        self.tree = None if lone_cr else tree
        self._spans: list[tuple[int, int]] | None = None
        self._known: dict[int, str] = {}
        self._done: set[int] = set()  # first lines of the statements tokenized
        self._whole: dict[int, str] | None | bool = False  # the whole file's comments, when asked

    def __call__(self, line: int) -> str:
        if line in self._known:
            return self._known[line]
        if self.tree is None:
            return self._from_whole(line)
        first, last = self._statement_at(line)
        if first not in self._done:
            self._done.add(first)
            comments = comment_lines("\n".join(self.lines[first - 1:last]) + "\n")
            if comments is None:  # a `\` on its last line joins the lines below: only the whole file tells
                return self._from_whole(line)
            for n in range(first, last + 1):
                self._known[n] = comments.get(n - first + 1, "")
        return self._known.get(line) if line in self._known else self._from_whole(line)

    def _from_whole(self, line: int) -> str:
        if self._whole is False:
            self._whole = comment_lines(self.source)
        comments = self._whole
        return comments.get(line, "") if comments is not None else self.lines[line - 1]

    def _statement_at(self, line: int) -> tuple[int, int]:
        """The lines of the top-level statement (decorators included) that holds `line`; the line
        alone when it lies between statements (a comment or blank line)."""
        if self._spans is None:
            self._spans = []
            for node in self.tree.body:
                decorators = getattr(node, "decorator_list", None)
                start = min(node.lineno, decorators[0].lineno) if decorators else node.lineno
                self._spans.append((start, node.end_lineno or node.lineno))
        i = bisect.bisect_right(self._spans, (line, float("inf"))) - 1
        if i >= 0 and self._spans[i][1] >= line:
            return self._spans[i]
        return line, line


_MAYBE_SUPPRESSED = re.compile(r"noqa|porter:\s*ignore", re.IGNORECASE)
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def may_suppress(source: str) -> bool:
    """Could any line of the source hold a suppression comment? (Cheap: no tokenizing; the text
    lowered once and searched for plain words, which is many times faster over a large file than
    a case-insensitive pattern.)"""
    lowered = source.lower()
    if "noqa" in lowered:
        return True
    return "porter:" in lowered and _MAYBE_SUPPRESSED.search(source) is not None


def noqa_line(lines: list[str], first: int, last: int, full_map, spans: list[tuple[int, int]]) -> int:
    """The line whose comment silences a finding on lines first..last (ruff's placement, see
    `noqa_lines`), without tokenizing in the common case: a `\\` continuation is followed on the
    raw lines, and `full_map()` (the file's `noqa_lines`, computed once by the caller) is asked
    only when the finding may touch a multi-line string (`spans`: `triple_quoted_spans`)."""
    end = last
    while 0 < end <= len(lines) and "#" not in lines[end - 1] and lines[end - 1].rstrip("\r").endswith("\\"):
        end += 1
    i = bisect.bisect_right(spans, (end, float("inf"))) - 1  # the last span opening by `end`
    if i >= 0 and spans[i][1] >= first:
        moved = full_map()
        end = max(end, moved.get(last, last), moved.get(end, end))
    return end


_TRIPLE = re.compile(r"\"\"\"|\'\'\'")


def triple_quoted_spans(source: str) -> list[tuple[int, int]]:
    """(first line, last line) of each multi-line triple-quoted string, found by pairing the triple
    quotes in order (cheap; a quote in a comment may pair wrongly, which only makes the caller ask
    the tokenizer, the real judge)."""
    spans: list[tuple[int, int]] = []
    opened: tuple[str, int] | None = None
    line, position = 1, 0
    for match in _TRIPLE.finditer(source):
        line += source.count("\n", position, match.start())
        position = match.start()
        if opened is None:
            opened = (match.group(), line)
        elif match.group() == opened[0]:
            if line > opened[1]:
                spans.append((opened[1], line))
            opened = None
    return spans


def noqa_lines(source: str) -> dict[int, int]:
    """ruff's noqa placement: each line of a multi-line string or of a backslash continuation, and
    the line where its noqa comment goes (the last line of the string or continuation). Lines not
    in the map carry their own comment; an untokenizable source gives an empty map."""
    step: dict[int, int] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return {}
    fstrings: list[int] = []
    previous = None
    for token in tokens:
        start, end = token.start[0], token.end[0]
        if token.type == tokenize.STRING and end > start:
            step.update((line, end) for line in range(start, end))
        elif token.type == _FSTRING_START:
            fstrings.append(start)
        elif token.type == _FSTRING_END and fstrings:
            first = fstrings.pop()
            step.update((line, end) for line in range(first, end))
        # a token on a later line than the one before, with no newline token between: a `\`
        if previous is not None and start > previous.end[0] and previous.type not in (
                tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT) \
                and token.type not in (tokenize.DEDENT, tokenize.ENDMARKER) and not fstrings:
            step.update((line, start) for line in range(previous.end[0], start))
        previous = token
    resolved: dict[int, int] = {}
    for line in step:
        target = step[line]
        while target in step and step[target] != target:
            target = step[target]
        resolved[line] = target
    return resolved


def mark_suppressed(findings: list[Finding], source: str, tree: ast.Module | None = None) -> list[Finding]:
    """The findings sorted, those an inline or file-level suppression covers marked `suppressed`.
    `tree`, the source's parsed tree when at hand, spares tokenizing all of the source."""
    if not findings:
        return findings
    lines = source.split("\n")
    # Only real comments suppress, never a string literal that looks like one. The source is
    # tokenized only where some line looks like it holds a suppression, which is rare.
    state: dict[str, dict | None] = {}
    comment = Comments(source, lines, tree)

    file_codes = file_suppressions(source)
    if file_codes:
        file_codes = file_suppressions("\n".join(
            comment(n) for n, text in enumerate(lines, start=1) if text.lstrip().startswith("#")
        ))
    # as in ruff, a finding in a multi-line string or a `\` continuation is silenced by the
    # comment on its last line (looked for only when the source may hold a suppression at all)
    maybe = may_suppress(source)
    spans = triple_quoted_spans(source) if maybe else []

    def full_map() -> dict[int, int]:
        if "moved" not in state:
            state["moved"] = noqa_lines(source)
        return state["moved"]

    if not maybe:  # no line holds a suppression comment: only the file's own may drop findings
        out = [f for f in findings if not (file_codes and covers(file_codes, f.rule_id))]
        out.sort(key=sort_key)
        return out
    out = []
    for f in findings:
        if file_codes and covers(file_codes, f.rule_id):
            continue
        codes = frozenset()
        candidates = {f.line, f.end_line}
        if maybe:
            candidates.add(noqa_line(lines, f.line, f.end_line, full_map, spans))
        for line in candidates:
            if 0 < line <= len(lines) and line_suppressions(lines[line - 1]):
                codes |= line_suppressions(comment(line))
        if codes and covers(codes, f.rule_id):
            f = Finding(**{**f.to_dict(), "suppressed": True})
        out.append(f)
    out.sort(key=sort_key)
    return out
