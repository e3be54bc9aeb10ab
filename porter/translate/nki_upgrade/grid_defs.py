"""Grid definitions (`ix = nl.arange(128)[:, None]`, `i, j = nl.mgrid[...]`) that the upgrade no
longer needs: removed when nothing but other dead grid definitions reads them, kept and marked otherwise."""

from __future__ import annotations

import libcst as cst

from porter.translate.nki_upgrade import grids
from porter.translate.nki_upgrade.names import code

GRID = "NRN707"


def defines_grid(stmt: cst.SimpleStatementLine, scope: grids.GridScope) -> bool:
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
        return False
    target = stmt.body[0].targets[0].target
    names = [target] if isinstance(target, cst.Name) else (
        [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [])
    return bool(names) and all(isinstance(n, cst.Name) and (n.value in scope.names or n.value in scope.objects
                                                            or n.value in scope.linear
                                                            or n.value in scope.predicates
                                                            or n.value in scope.retired) for n in names)


class NameUses(cst.CSTVisitor):
    """Names read in a function. A read inside a grid definition (`i = k * 128 + i`, `j = i + 1`) only
    counts when the name it defines is itself read elsewhere (`live`)."""

    def __init__(self, scope: grids.GridScope) -> None:
        self.scope = scope
        self.loads: dict[str, int] = {}
        self.def_reads: list[tuple[set[str], set[str]]] = []  # (names defined, names read) per grid def
        self._def: tuple[set[str], set[str]] | None = None

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if defines_grid(node, self.scope):
            target = node.body[0].targets[0].target
            names = {target.value} if isinstance(target, cst.Name) else {e.value.value for e in target.elements}
            self._def = (names, set())
            self.def_reads.append(self._def)

    def leave_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._def = None

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if self._def is not None:
            self._def[1].add(node.value)
        else:
            self.loads[node.value] = self.loads.get(node.value, 0) + 1

    def live(self) -> dict[str, int]:
        live = dict(self.loads)
        changed = True
        while changed:
            changed = False
            for defined, read in self.def_reads:
                if any(live.get(n, 0) for n in defined):
                    for n in read - set(live):
                        live[n] = 1
                        changed = True
        return live


KEPT_GRID = "index grid still used where porter could not turn it into slices"


class GridDefRemover(cst.CSTTransformer):
    def __init__(self, scope: grids.GridScope, loads: dict[str, int], aliases: dict[str, str]) -> None:
        self.kept: list[str] = []
        self.scope = scope
        self.loads = loads
        self.aliases = aliases

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # nested functions were handled when they were left

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if not defines_grid(updated, self.scope):
            return updated
        target = updated.body[0].targets[0].target
        names = [target.value] if isinstance(target, cst.Name) else [e.value.value for e in target.elements]
        if all(self.loads.get(n, 0) == 0 for n in names):
            return cst.RemoveFromParent()
        self.kept.append(code(target))
        comment = cst.EmptyLine(comment=cst.Comment(f"# porter: {GRID} {KEPT_GRID}"))
        return updated.with_changes(leading_lines=[*updated.leading_lines, comment])
