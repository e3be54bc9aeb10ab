"""The finding: one construct found at one place in one file."""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter

# The engine's own findings: a file it could not parse, a rule that raised on it.
SYNTAX_ERROR = "NRN001"
INTERNAL_ERROR = "NRN003"


@dataclass(frozen=True, order=True)
class Finding:
    """A rule's hit. Positions are 1-based; columns count characters, not bytes."""

    path: str
    line: int
    col: int
    rule_id: str
    message: str
    end_line: int
    end_col: int
    # 1-based notebook cell, None for .py files.
    cell: int | None = None
    # What matched: a qualified name, a method name or a literal; port uses it to pick the fix.
    matched: str = ""
    # Set when an inline suppression comment (porter: ignore, noqa) covers this finding.
    suppressed: bool = False
    # Why this site cannot take the rule's automatic fix (empty: it can); port marks it instead.
    manual: str = ""
    # A `# porter: NRNxxx` marker for this rule sits above the statement: `porter port` marked the
    # site (or a person acknowledged it). Reported as "marked", not a failure unless --strict-markers.
    marked: bool = False

    def to_dict(self) -> dict:
        # every field holds a str, int, bool or None: a shallow copy is what `asdict` (which deep-
        # copies through `copy.deepcopy`, slowly) would give; the cache stores one per finding
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def at_lines(self, line: int, end_line: int) -> Finding:
        """This finding moved to other lines, all else kept: what `dataclasses.replace` gives, without
        its checks (a port moves every finding of a file; a dense file has tens of thousands)."""
        moved = object.__new__(Finding)
        moved.__dict__.update(self.__dict__, line=line, end_line=end_line)
        return moved

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(**data)

    @property
    def in_rewritten_file(self) -> bool:
        """Is this finding in code `porter port` rewrites? Not a notebook cell, not a type stub (.pyi:
        never run, so no helper, guard or device call belongs in it)."""
        return self.cell is None and not self.path.endswith(".pyi")

    @property
    def location(self) -> str:
        if self.cell is not None:
            return f"{self.path}:cell {self.cell}:{self.line}:{self.col}"
        return f"{self.path}:{self.line}:{self.col}"


_FIELD_NAMES = tuple(f.name for f in fields(Finding))
# The findings' order (`order=True`) as a sort key: one tuple per finding, compared in C, rather than
# two tuples built per comparison by the dataclass's `__lt__`.
sort_key = attrgetter(*_FIELD_NAMES)


def new_finding(path: str, line: int, col: int, rule_id: str, message: str, end_line: int, end_col: int,
                cell: int | None, matched: str, manual: str) -> Finding:
    """`Finding(...)` with these fields (the others at their defaults), without the frozen dataclass's
    field-by-field `object.__setattr__`: the engine makes one per site, tens of thousands in a dense
    file. tests/source/test_findings.py holds it to the constructor."""
    finding = _new(Finding)
    finding.__dict__.update({"path": path, "line": line, "col": col, "rule_id": rule_id, "message": message,
                             "end_line": end_line, "end_col": end_col, "cell": cell, "matched": matched,
                             "suppressed": False, "manual": manual, "marked": False})
    return finding


_new = object.__new__
