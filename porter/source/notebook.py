"""Jupyter notebooks: the code cells joined into one module, findings mapped back to cells.

Cells are analysed together because a notebook imports in one cell and uses in another. A cell
that does not parse on its own is reported (NRN001) and blanked, so the other cells still count.
IPython magics and shell escapes are blanked line by line, keeping line numbers.
"""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import dataclass

from porter.source.engine import syntax_error_finding
from porter.source.findings import Finding

MAGIC_PREFIXES = ("%", "!", "?")


class NotebookError(ValueError):
    pass


@dataclass
class Notebook:
    source: str
    # For each line of `source` (0-based): (cell number, line within the cell), both 1-based.
    line_map: list[tuple[int, int]]
    cell_errors: list[Finding]

    def to_cell(self, finding: Finding) -> Finding:
        cell, line = self.line_map[min(finding.line, len(self.line_map)) - 1]
        _, end_line = self.line_map[min(finding.end_line, len(self.line_map)) - 1]
        data = finding.to_dict()
        data.update(cell=cell, line=line, end_line=end_line)
        return Finding(**data)


def _cell_lines(cell: dict) -> list[str]:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = text.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return [""] * len(lines)  # a cell magic: the cell is not Python
    return ["" if line.lstrip().startswith(MAGIC_PREFIXES) else line for line in lines]


def load_notebook(data: bytes, path: str) -> Notebook:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
        cells = doc["cells"]
        if not isinstance(cells, list):
            raise TypeError("`cells` is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise NotebookError(f"not a valid Jupyter notebook: {exc}") from exc
    lines: list[str] = []
    line_map: list[tuple[int, int]] = []
    errors: list[Finding] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell_lines = _cell_lines(cell)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse("\n".join(cell_lines))
        except (SyntaxError, ValueError) as exc:
            errors.append(syntax_error_finding(exc, path, number))
            cell_lines = [""] * len(cell_lines)
        lines.extend(cell_lines)
        line_map.extend((number, i) for i in range(1, len(cell_lines) + 1))
    if not line_map:
        line_map = [(1, 1)]
    return Notebook("\n".join(lines), line_map, errors)
