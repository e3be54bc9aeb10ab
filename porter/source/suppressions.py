"""Inline suppressions: `# porter: ignore[NRN101]`, `# porter: ignore`, `# noqa: NRN101`, `# noqa`,
and the file-level `# porter: ignore-file` (optionally `# porter: ignore-file[NRN1]`).
"""

from __future__ import annotations

import io
import re
import tokenize

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
