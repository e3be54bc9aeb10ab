"""Fixes made as text edits, without libcst, where the rewrite is fixed text.

`.cuda()` without arguments, the most common site in CUDA code, becomes `.to(_porter_device())`
(the `device` fix). A statement whose sites are all of that kind needs nothing of libcst: the cut
(porter.rewrite.narrow) leaves it out of the libcst port like a statement with no site, and splices
it back with the text edited. What the libcst port would write at such a site is exactly this text
when the site is no argument of `torch.device(...)`, not in a lambda (`.to(device=...)` there) and
not in an f-string; a statement with anything else is left to libcst. tests/rewrite/test_text_fixes.py
compares the two ports.
"""

from __future__ import annotations

import ast
import re

from porter.rewrite.helpers import DEVICE_HELPER
from porter.rewrite.results import Change
from porter.source.astwalk import statements
from porter.source.catalogue import Catalogue
from porter.source.findings import Finding
from porter.source.rule_index import hit_lines, word_lines

_OLD, _NEW = "cuda()", f"to({DEVICE_HELPER}())"


def text_fixable(findings: list[Finding], lines: list[str], catalogue: Catalogue, target: str,
                 unsafe_fixes: bool = False) -> set[int]:
    """The indexes of the findings whose fix is the text edit (see the module docstring), judged by
    the finding alone; the statement holding it is judged by `statement_takes_text_fixes`."""
    found = set()
    takes: dict[str, bool] = {}  # by rule: is its fix the `device` fix, safe and plain?
    for i, f in enumerate(findings):
        if f.matched != "cuda" or f.suppressed or f.manual or f.marked or f.line != f.end_line:
            continue
        plain = takes.get(f.rule_id)
        if plain is None:
            rule = catalogue.get(f.rule_id)
            fix = rule.fix_for(target) if rule is not None else None
            plain = takes[f.rule_id] = fix is not None and fix.transform == "device" and not fix.to \
                and fix.applicability == "safe"
        if not plain:
            continue
        line = lines[f.line - 1]
        start = f.col - 1
        if line[start:f.end_col - 1] == _OLD and start > 0 and line[start - 1] == ".":
            found.add(i)
    return found


# What a statement's text holds if it has a lambda, an f-string or a `device(...)` call (a superset).
# The lookahead names every alternative's first character: the scan skips other positions fast.
_MAY_TAKE_OTHER_TEXT = re.compile(r"(?=[ldrRbBuUfF])(?:\blambda\b|\bdevice\b|(?<![\w'\"])[rRbBuU]?[fF][rRbB]?['\"])")


# A quote right after an f-string's prefix (`f"`, `rf'`, `Fb"`): every f-string's first quote, and more.
_FSTRING_QUOTE = re.compile(r"['\"](?:(?<=[fF].)|(?<=[fF][rRbB].))")


def statement_takes_text_fixes(stmt: ast.stmt, lines: list[str], spelled: set[int] | None = None) -> bool:
    """No lambda, f-string or `device(...)` call in it: the libcst fix writes other text there.
    `lines`: the file's, which are read first (most statements spell none of these); `spelled`: the
    numbers of the lines that may spell one, when known."""
    first, last = stmt.lineno, stmt.end_lineno or stmt.lineno
    span = range(first, last + 1)
    if spelled is not None:
        if (first not in spelled) if first == last else not any(n in spelled for n in span):
            return True
    elif not any(_MAY_TAKE_OTHER_TEXT.search(lines[n - 1]) for n in span):
        return True
    for node in ast.walk(stmt):
        if isinstance(node, (ast.Lambda, ast.JoinedStr)):
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "device":
                return False
    return True


def apply_text_fixes(text: str, first_line: int, sites: list[Finding]) -> str:
    """`text` (the file's lines from `first_line` on) with each site's `.cuda()` edited."""
    lines = text.splitlines(keepends=True)
    for f in sorted(sites, key=lambda f: (f.line, f.col), reverse=True):  # right to left within a line
        i, start = f.line - first_line, f.col - 1
        line = lines[i]
        assert line[start:start + len(_OLD)] == _OLD, "a text fix's site moved"
        lines[i] = line[:start] + _NEW + line[start + len(_OLD):]
    return "".join(lines)


def text_fix_changes(found: list[Finding], catalogue: Catalogue, target: str) -> list[Change]:
    """The report's entries for sites fixed as text: what the libcst port reports for them."""
    results: dict[str, str] = {}
    for f in found:
        if f.rule_id not in results:
            results[f.rule_id] = catalogue.get(f.rule_id).fix_for(target).result
    return [Change(f.rule_id, f.line, f.col, "fixed", results[f.rule_id], f.matched) for f in found]


def text_fixable_findings(findings: list[Finding], source: str, tree: ast.Module | None, catalogue: Catalogue,
                  target: str) -> list[Finding]:
    """The findings fixed as text if the cut leaves their statement out (porter.rewrite.text_fixes)."""
    if tree is None:
        return []
    lines = source.splitlines()
    candidates = text_fixable(findings, lines, catalogue, target)
    if not candidates:
        return []
    site_lines = {findings[i].line for i in candidates}
    innermost: dict[int, ast.stmt] = {}  # a site's line -> the innermost statement holding it
    for stmt in statements(tree):
        end = stmt.end_lineno or stmt.lineno
        if end == stmt.lineno:
            if end in site_lines:
                innermost[end] = stmt
            continue
        for line in range(stmt.lineno, end + 1):
            if line in site_lines:
                innermost[line] = stmt
    # the lines that may spell a lambda, an f-string or `device` (a superset: each statement on one is
    # walked), found by `str.find` and by a search that starts at quotes alone
    spelled = set(word_lines(source, ("lambda", "device"))).union(hit_lines(source, _FSTRING_QUOTE)) \
        if "\r" not in source else None
    return [findings[i] for i in sorted(candidates)
            if findings[i].line in innermost and statement_takes_text_fixes(innermost[findings[i].line], lines,
                                                                            spelled)]
