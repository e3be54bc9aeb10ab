"""Jupyter notebooks: the code cells joined into one module, findings mapped back to cells.

Cells are analysed together because a notebook imports in one cell and uses in another. A cell
that does not parse on its own is reported (NRN001) and blanked, so the other cells still count.

IPython syntax is neutralised line by line, keeping line numbers (as IPython's own input
transformers see it, and as ruff does):

- a cell magic whose body is Python (`%%time`, `%%timeit`, `%%capture`, `%%prun`, `%%debug`,
  `%%python`, ...) has its `%%` line blanked and its body checked; any other cell magic
  (`%%bash`, `%%writefile`, `%%html`, ...) makes the cell not Python, so it is skipped whole;
- a line magic that runs a Python statement (`%time`, `%timeit`, `%prun`, also as
  `r = %timeit -o f(x)`) is replaced by that statement, and columns are shifted back so findings
  point into the original line; the setup code on a `%%timeit`/`%%prun` line is checked the same way;
- other line magics, shell escapes (`!ls`, `files = !ls`, `x = %env`) and help (`x?`, `??x`)
  become blank lines (or `pass` inside an indented block, so the block still parses).
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass

from porter.source.engine import syntax_error_finding
from porter.source.findings import Finding

# Cell magics whose body is Python code (the list ruff uses, from IPython and its kernels).
PYTHON_CELL_MAGICS = frozenset({"capture", "debug", "prun", "pypy", "python", "python3", "time", "timeit"})
# Line (and cell) magics whose argument, after options, is a Python statement; the options that
# take a value (IPython's parse_options specs: timeit 'n:r:tcp:qo', prun 'D:l:rs:T:q').
STATEMENT_MAGICS = {"time": "", "timeit": "nrp", "prun": "DlsT"}

_MAGIC = re.compile(r"%(?P<name>[A-Za-z_]\w*)(?P<rest>.*)\Z", re.S)
# `files = !ls`, `a, b = %sx ls`, `r = %timeit -o f(x)`: a target list assigned an IPython escape.
_ASSIGN_ESCAPE = re.compile(r"(?P<target>[\w.\[\](), *]+?)\s*=\s*(?P<escape>[!%].*)\Z", re.S)
# `x?`, `x.y??`, `np.*load*?`, `%time?`, and `?x`, `??x.y`: IPython's help syntax.
_HELP = re.compile(r"(\?{1,2}[\w.*%]+|[\w.*%]+\?{1,2})\s*\Z")


class NotebookError(ValueError):
    pass


@dataclass
class Notebook:
    source: str
    # For each line of `source` (0-based): (cell number, line within the cell), both 1-based.
    line_map: list[tuple[int, int]]
    cell_errors: list[Finding]
    # For each line of `source`: (indent, shift). A line magic's statement was moved left by
    # `shift` characters to just after its indent; columns past the indent move back right.
    col_shifts: list[tuple[int, int]] | None = None

    def _col(self, index: int, col: int) -> int:
        if not self.col_shifts or index >= len(self.col_shifts):
            return col
        indent, shift = self.col_shifts[index]
        return col + shift if shift and col > indent else col

    def to_cell(self, finding: Finding) -> Finding:
        start = min(finding.line, len(self.line_map)) - 1
        end = min(finding.end_line, len(self.line_map)) - 1
        cell, line = self.line_map[start]
        _, end_line = self.line_map[end]
        data = finding.to_dict()
        data.update(cell=cell, line=line, end_line=end_line,
                    col=self._col(start, finding.col), end_col=self._col(end, finding.end_col))
        return Finding(**data)


def _skip_options(rest: str, valued: str) -> str:
    """`-n 10 -r3 -o stmt` → `stmt` (IPython's option syntax for timeit and prun)."""
    while True:
        match = re.match(r"-(\w)(\S*)\s*", rest)
        if match is None:
            return rest
        rest = rest[match.end():]
        if match.group(1) in valued and not match.group(2):
            value = re.match(r"\S+\s*", rest)
            rest = rest[value.end():] if value else rest


def _statement_of(magic: str) -> str | None:
    """The Python statement a `%time`/`%timeit`/`%prun` magic runs (`magic` has no leading `%`);
    None for other magics. An empty string when there is no statement."""
    match = _MAGIC.match("%" + magic)
    if match is None or match.group("name") not in STATEMENT_MAGICS:
        return None
    rest = match.group("rest")
    return _skip_options(rest.strip(), STATEMENT_MAGICS[match.group("name")])


def _blank(indent: str) -> tuple[str, int]:
    # `pass` keeps an indented block that held only the magic a valid block.
    return (indent + "pass" if indent else ""), 0


def _neutralise(line: str) -> tuple[str, int]:
    """One line of a code cell as Python: (new line, column shift); see the module docstring."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    body = stripped.rstrip()
    if not body:
        return line, 0
    escape = None
    if re.match(r"%%?[A-Za-z_]|!(?!=)", body):  # not `% b)` or `!= b` continuing an expression
        escape = body
    elif body[0] == "?" or _HELP.match(body):
        return _blank(indent)
    else:
        match = _ASSIGN_ESCAPE.match(body)
        if match and not match.group("target").strip().endswith(("=", "<", ">", "!")):
            escape = match.group("escape")
    if escape is None:
        return line, 0
    statement = _statement_of(escape[1:]) if escape.startswith("%") and not escape.startswith("%%") else None
    if not statement:
        return _blank(indent)
    # the statement ends the line: it moved left by everything between the indent and it
    return indent + statement, len(body) - len(statement)


def _cell_lines(cell: dict) -> tuple[list[str], list[tuple[int, int]]]:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = text.split("\n")
    shifts = [(0, 0)] * len(lines)
    first = lines[0].lstrip() if lines else ""
    if first.startswith("%%"):
        match = _MAGIC.match(first[1:].rstrip())
        if match is None or match.group("name") not in PYTHON_CELL_MAGICS:
            return [""] * len(lines), shifts  # %%bash, %%writefile, ...: the cell is not Python
        setup = _statement_of(first[2:].rstrip()) if match.group("name") in ("timeit", "prun") else None
        if setup:
            start = len(lines[0]) - len(first) + len(first.rstrip()) - len(setup)
            head = (setup, (0, start))
        else:
            head = ("", (0, 0))
        out, out_shifts = [head[0]], [head[1]]
        rest_lines = lines[1:]
    else:
        out, out_shifts = [], []
        rest_lines = lines
    for line in rest_lines:
        new, shift = _neutralise(line)
        out.append(new)
        out_shifts.append((len(new) - len(new.lstrip()), shift))
    return out, out_shifts


def read_cells(data: bytes) -> list:
    """The notebook's cells; NotebookError when the bytes are not a Jupyter notebook. An empty file
    (as editors create) is an empty notebook, as in ruff."""
    if not data.strip():
        return []
    try:
        doc = json.loads(data.decode("utf-8-sig"))
        cells = doc["cells"]
        if not isinstance(cells, list):
            raise TypeError("`cells` is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise NotebookError(f"not a valid Jupyter notebook: {exc}") from exc
    return cells


def load_notebook(data: bytes, path: str, cells: list | None = None) -> Notebook:
    if cells is None:
        cells = read_cells(data)
    lines: list[str] = []
    line_map: list[tuple[int, int]] = []
    col_shifts: list[tuple[int, int]] = []
    errors: list[Finding] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell_lines, shifts = _cell_lines(cell)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse("\n".join(cell_lines))
        except (SyntaxError, ValueError) as exc:
            error = syntax_error_finding(exc, path, number)
            cell_notebook = Notebook("", [(number, i) for i in range(1, len(cell_lines) + 1)], [], shifts)
            errors.append(cell_notebook.to_cell(error))
            cell_lines = [""] * len(cell_lines)
            shifts = [(0, 0)] * len(cell_lines)
        lines.extend(cell_lines)
        line_map.extend((number, i) for i in range(1, len(cell_lines) + 1))
        col_shifts.extend(shifts)
    if not line_map:
        line_map = [(1, 1)]
        col_shifts = [(0, 0)]
    return Notebook("\n".join(lines), line_map, errors, col_shifts)
