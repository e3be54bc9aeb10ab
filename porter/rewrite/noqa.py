"""`porter lint --add-noqa`: a `# noqa: NRNxxx` comment on each line with findings, so a repository
can turn the hook on today and fix its old findings later (ruff's `--add-noqa`)."""

from __future__ import annotations

import io
import re
import tokenize
from collections import defaultdict
from pathlib import Path

from porter.rewrite.fileio import atomic_write, encode_source, source_encoding
from porter.source.findings import Finding
from porter.source.runner import decode_python
from porter.source.suppressions import noqa_lines

_NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Za-z]+\d+(?:\s*,\s*[A-Za-z]+\d+)*)", re.IGNORECASE)
_BARE_NOQA = re.compile(r"#\s*noqa(?!:)", re.IGNORECASE)


def _unsafe_lines(text: str) -> set[int] | None:
    """Lines whose end is inside a string or continued with a backslash: a comment cannot go there.
    None when the file does not tokenize."""
    unsafe: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING or token.type in _FSTRING_TOKENS:
                unsafe.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.rstrip("\r").endswith("\\"):
            unsafe.add(number)
    return unsafe


_FSTRING_TOKENS = {t for t in (getattr(tokenize, "FSTRING_START", None), getattr(tokenize, "FSTRING_MIDDLE", None))
                   if t is not None}


def add_noqa(findings: list[Finding]) -> tuple[int, list[tuple[str, str]]]:
    """Add the directives; (directives added, [(file, why not)] for the files left alone)."""
    by_file: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    notebooks: set[str] = set()
    for f in findings:
        if f.suppressed or f.rule_id.startswith("NRN0"):
            continue
        if f.cell is not None:
            notebooks.add(f.path)
        else:
            by_file[f.path][f.line].add(f.rule_id)
    added = 0
    skipped: list[tuple[str, str]] = [
        (path, "a notebook: add the `# noqa: NRNxxx` comments in its cells by hand") for path in sorted(notebooks)]
    for path, lines in sorted(by_file.items()):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            skipped.append((path, f"cannot read ({exc.strerror})"))
            continue
        text = decode_python(data, path)
        if not isinstance(text, str):
            skipped.append((path, text.message))
            continue
        unsafe = _unsafe_lines(text)
        if unsafe is None:
            skipped.append((path, "does not tokenize"))
            continue
        rows = text.split("\n")
        # a line inside a multi-line string or a `\` continuation gets its noqa on the last line
        # of it, where lint looks for one (ruff's placement)
        moved = noqa_lines(text)
        placed: dict[int, set[str]] = defaultdict(set)
        for number, codes in lines.items():
            placed[moved.get(number, number)] |= codes
        for number, codes in sorted(placed.items()):
            if number in unsafe or not 0 < number <= len(rows):
                skipped.append((path, f"line {number}: inside a string or continued with `\\`; add the noqa by hand"))
                continue
            row = rows[number - 1]
            ending = "\r" if row.endswith("\r") else ""
            body = row[: len(row) - len(ending)]
            if _BARE_NOQA.search(body) and not _NOQA.search(body):
                continue  # a bare noqa comment already covers every rule
            existing = _NOQA.search(body)
            if existing:
                have = {c.strip().upper() for c in existing.group("codes").split(",")}
                merged = ", ".join(sorted(have | codes))
                body = body[: existing.start()] + f"# noqa: {merged}" + body[existing.end():]
            else:
                body = f"{body.rstrip()}  # noqa: {', '.join(sorted(codes))}"
            rows[number - 1] = body + ending
            added += 1
        new_text = "\n".join(rows)
        if new_text != text:
            atomic_write(Path(path), encode_source(new_text, source_encoding(data)))
    return added, skipped
