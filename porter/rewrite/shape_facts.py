"""What sharing porter's helpers over a package needs to know of a ported file's tree
(porter.rewrite.shared_helpers.HelperShape): the helpers porter added and where, how the file
imports, whether it runs as a script.

A file the narrow port cut (porter.rewrite.narrow) need not be parsed whole again for them: its
ported text is the ported skeleton with each placeholder line replaced by its unit's original text.
So the skeleton's facts come from parsing the ported skeleton (small when most of the file was cut),
with its lines moved to where they end up, and the units' facts from lint's tree of the file, which
holds them verbatim.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass

from porter.rewrite.helpers import DEVICE_HELPER, EXTRA_HELPERS, MISSING_HELPER
from porter.source.astwalk import statements

ORDER = (DEVICE_HELPER, *EXTRA_HELPERS, MISSING_HELPER)
ADDED_BY_PORTER = "Added by porter."
# Line breaks that `str.splitlines` and the parser count differently: with one, lines are not moved.
_OTHER_BREAKS = re.compile("\r(?!\n)|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class ShapeFacts:
    defs: tuple[tuple[str, int, int], ...]  # each helper porter added: (name, first line, last line)
    relative: bool  # some import is relative
    heads: frozenset[str]  # the first name of each module imported absolutely
    runs_as_script: bool  # an `if __name__ ...` block at top level
    top_imports: tuple[int, ...]  # the lines of the top-level `import` statements


def helper_defs(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level helpers porter added (recognised by name and their "Added by porter." docstring)."""
    return [stmt for stmt in body if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)) and stmt.name in ORDER
            and ADDED_BY_PORTER in (ast.get_docstring(stmt) or "")]


def facts_of_tree(tree: ast.Module) -> ShapeFacts:
    return _facts(tree.body, list(statements(tree)), lambda line: line)


def _facts(body: list[ast.stmt], stmts: list[ast.stmt], moved) -> ShapeFacts:
    """The facts of these top-level statements and statements, their lines taken through `moved`."""
    imports = [n for n in stmts if isinstance(n, (ast.Import, ast.ImportFrom))]
    return ShapeFacts(
        defs=tuple((d.name, moved(min([d.lineno, *(x.lineno for x in getattr(d, "decorator_list", []))])),
                    moved(d.end_lineno)) for d in helper_defs(body)),
        relative=any(isinstance(n, ast.ImportFrom) and n.level for n in imports),
        heads=frozenset({n.module.split(".")[0] for n in imports
                         if isinstance(n, ast.ImportFrom) and not n.level and n.module}
                        | {a.name.split(".")[0] for n in imports if isinstance(n, ast.Import) for a in n.names}),
        runs_as_script=any(isinstance(s, ast.If) and isinstance(s.test, ast.Compare)
                           and isinstance(s.test.left, ast.Name) and s.test.left.id == "__name__" for s in body),
        top_imports=tuple(moved(s.lineno) for s in body if isinstance(s, ast.Import)),
    )


class CutFile:
    """A cut file's port, as the narrow port spliced it: the ported skeleton, the skeleton before
    the port with the file's line of each of its lines, each placeholder's unit text by number,
    lint's tree of the file and the file's lines, the placeholders' pattern, the units' lines
    ported apart."""

    def __init__(self, ported: str, skeleton: str, line_map: list[int], originals: dict[int, str],
                 tree: ast.Module | None, lines: list[str], placeholder: re.Pattern[str],
                 apart: dict[int, str]) -> None:
        self.ported, self.skeleton, self.line_map = ported, skeleton, line_map
        self.originals, self.tree, self.lines = originals, tree, lines
        self.apart = apart  # the units' lines ported apart: their ported text (more lines than one, maybe)
        self.placeholder = placeholder  # a placeholder line's pattern, its number the first group

    def facts(self) -> ShapeFacts | None:
        """The ported file's facts, or None when they must come from parsing it whole: an unusual
        line break, a unit whose text is not its lines as fixed, a fact on a line fixed, a skeleton
        that does not parse alone."""
        # (the file's own lines break only at \n or \r\n: narrow cuts no other file)
        if self.tree is None or _OTHER_BREAKS.search(self.ported):
            return None
        units = self._units()
        if units is None:
            return None
        spans, changed, within = units
        # each line of the ported skeleton -> its line in the ported file; each unit's first line there
        final: list[int] = [0]
        placed: dict[int, int] = {}
        line = 1
        for text in self.ported.splitlines(keepends=True):
            final.append(line)
            match = self.placeholder.match(text.rstrip("\r\n"))
            if match is None:
                line += 1
                continue
            unit = int(match.group(1))
            if unit not in self.originals:
                return None
            placed[unit] = line
            line += _line_count(self.originals[unit])
        final.append(line)  # the line after the last (an end position may name it)
        try:
            tree = ast.parse(self.ported)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        own = _facts(tree.body, list(statements(tree)), final.__getitem__)
        spans.sort()
        starts = [start for start, _, _ in spans]

        def unit_of(original: int) -> tuple[int, int, int] | None:
            i = bisect.bisect_right(starts, original) - 1
            return spans[i] if i >= 0 and original <= spans[i][1] else None

        def moved(original: int) -> int:
            start, _, unit = unit_of(original)
            at = within.get(unit)
            return placed[unit] + (at[original - start] if at is not None else original - start)

        body = [s for s in self.tree.body if unit_of(s.lineno) is not None]
        imports = [s for s in statements(self.tree) if isinstance(s, (ast.Import, ast.ImportFrom))
                   and unit_of(s.lineno) is not None]
        # The units' facts are read from the file's tree: a line fixed as text may not hold one.
        if changed and any(changed.intersection(range(n.lineno, n.end_lineno + 1)) for n in (
                *imports, *(s.test for s in body if isinstance(s, ast.If)),
                *(s for s in body if isinstance(s, (ast.FunctionDef, ast.ClassDef)) and s.name in ORDER))):
            return None
        cut = _facts(body, imports, moved)
        return ShapeFacts(
            defs=tuple(sorted(own.defs + cut.defs, key=lambda d: d[1])),
            relative=own.relative or cut.relative,
            heads=own.heads | cut.heads,
            runs_as_script=own.runs_as_script or cut.runs_as_script,
            top_imports=tuple(sorted(own.top_imports + cut.top_imports)),
        )

    def _units(self) -> tuple[list[tuple[int, int, int]], set[int], dict[int, list[int]]] | None:
        """Each unit's (first line in the file, last line, number), from the skeleton before the
        port; the units' lines fixed as text or ported apart; for a unit with lines ported apart, the
        offset of each of its lines in its text. None when a unit's text is not its lines as fixed."""
        spans: list[tuple[int, int, int]] = []  # (first line in the file, last line, number)
        changed: set[int] = set()  # the units' lines fixed as text or ported apart
        within: dict[int, list[int]] = {}  # a unit with lines ported apart: each line's offset in it
        for number, text in enumerate(self.skeleton.splitlines(keepends=True), start=1):
            match = self.placeholder.match(text.rstrip("\r\n"))
            if match is not None:
                unit = int(match.group(1))
                if unit not in self.originals:
                    return None
                # the unit's lines in the file: up to the skeleton's next line
                start = self.line_map[number - 1]
                end = self.line_map[number] - 1 if number < len(self.line_map) else len(self.lines)
                if "".join(self.lines[start - 1:end]) != self.originals[unit]:  # lines fixed in it
                    at = self._placed_lines(start, end, self.originals[unit], changed)
                    if at is None:
                        return None
                    within[unit] = at
                spans.append((start, end, unit))
        return spans, changed, within

    def _placed_lines(self, start: int, end: int, text: str, changed: set[int]) -> list[int] | None:
        """Each of the file's lines `start`..`end` (a unit) by its offset in the unit's `text`, where
        a line ported apart may take more lines than one; the lines whose text changed go into
        `changed`. None when the text is not the lines so fixed."""
        fixed = text.splitlines(keepends=True)
        offsets: list[int] = []
        at = 0
        for line in range(start, end + 1):
            offsets.append(at)
            if line in self.apart:
                changed.add(line)
                at += _line_count(self.apart[line])
            else:
                if at >= len(fixed) or fixed[at] != self.lines[line - 1]:
                    changed.add(line)
                at += 1
        return offsets if at == len(fixed) else None


def _line_count(text: str) -> int:
    """The lines of a unit's text (whole lines; the file's last may have no line break)."""
    return text.count("\n") + (not text.endswith("\n"))
