"""Loops removed in NKI 0.7: `for i in nl.dynamic_range(...)` -> `nl.fori_loop`, `while register:` ->
`nl.while_loop`, each body a nested function; a loop that rebinds outer names keeps a marker."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.build import parse_statement
from porter.translate.nki_upgrade.names import call_name, code

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader


def _outside_uses(up: Upgrader, original: cst.CSTNode, names: set[str]) -> set[str]:
    """Which of `names` the enclosing function uses outside `original` (the loop)."""
    if not names or not up.functions:
        return set(names)
    used: set[str] = set()

    class V(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if node is original:
                return False
            if isinstance(node, cst.Name) and node.value in names:
                used.add(node.value)
            return True

    up.functions[-1].body.visit(V())
    return used


def dynamic_range_to_fori(up: Upgrader, original: cst.For, node: cst.For) -> cst.BaseStatement | cst.FlattenSentinel:
    """`for i in nl.dynamic_range(a, b):` -> a nested body function + `nl.fori_loop(a, b, body)`."""
    call = node.iter
    args = [a for a in call.args if a.keyword is None]
    if not isinstance(node.target, cst.Name) or node.orelse is not None or not 1 <= len(args) <= 3:
        return up.mark_node(node, "NRN703", "nl.dynamic_range was removed in NKI 0.7; rewrite as nl.fori_loop")
    assigned = _Assigned()
    node.body.visit(assigned)
    shared = _outside_uses(up, original, assigned.names)
    if shared or assigned.flow:
        why = "it rebinds " + ", ".join(sorted(shared)) if shared else "it uses break/continue/return"
        return up.mark_node(node, "NRN703",
                            f"nl.dynamic_range was removed in NKI 0.7; not rewritten as nl.fori_loop because {why}")
    lo, hi = ("0", code(args[0].value)) if len(args) == 1 else (code(args[0].value), code(args[1].value))
    step = f", step={code(args[2].value)}" if len(args) == 3 else ""
    up.temp_counter += 1
    body_name = f"_porter_loop_body{up.temp_counter}"
    fn = cst.FunctionDef(name=cst.Name(body_name), params=cst.Parameters(params=[cst.Param(node.target)]),
                         body=node.body, leading_lines=node.leading_lines)
    loop = parse_statement(f"{up.nl}.fori_loop({lo}, {hi}, {body_name}{step})")
    up._note("NRN703", "for ... in nl.dynamic_range -> nl.fori_loop")
    return cst.FlattenSentinel([fn, loop])


def register_while(up: Upgrader, original: cst.While, node: cst.While) -> cst.BaseStatement | cst.FlattenSentinel:
    """`while reg:` on a VirtualRegister (0.6) -> `nl.while_loop(reg, body)` returning the register."""
    if not isinstance(node.test, cst.Name) or node.orelse is not None:
        return node
    reg = node.test.value
    finder = _RegisterAlloc(reg, up.aliases)
    # Only registers allocated with nisa.register_alloc are device conditions.
    up_module = getattr(up, "_module_for_registers", None)
    if up_module is None or not finder.is_register(up_module):
        return node
    assigned = _Assigned()
    node.body.visit(assigned)
    if assigned.flow or reg in assigned.names or _outside_uses(up, original, assigned.names):
        return up.mark_node(node, "NRN703", "`while register:` was removed in NKI 0.7; rewrite with nl.while_loop")
    up.temp_counter += 1
    body_name = f"_porter_while_body{up.temp_counter}"
    body = node.body.with_changes(body=[*node.body.body, parse_statement(f"return {reg}")])
    fn = cst.FunctionDef(name=cst.Name(body_name), params=cst.Parameters(params=[cst.Param(cst.Name("_cond"))]),
                         body=body, leading_lines=node.leading_lines)
    up._note("NRN703", "while register: -> nl.while_loop")
    return cst.FlattenSentinel([fn, parse_statement(f"{up.nl}.while_loop({reg}, {body_name})")])


class _RegisterAlloc:
    def __init__(self, name: str, aliases: dict[str, str]) -> None:
        self.name = name
        self.aliases = aliases

    def is_register(self, module: cst.Module) -> bool:
        found = []

        class V(cst.CSTVisitor):
            def visit_Assign(s, node: cst.Assign) -> None:  # noqa: N805
                t = node.targets[0].target
                if isinstance(t, cst.Name) and t.value == self.name and \
                        call_name(node.value, self.aliases) == "nki.isa.register_alloc":
                    found.append(1)

        module.visit(V())
        return bool(found)


class _Assigned(cst.CSTVisitor):
    """Names a loop body rebinds (a nested function would need `nonlocal`) and loop-exiting flow."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.flow = False
        self._local: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_Break(self, node: cst.Break) -> None:
        self.flow = True

    def visit_Continue(self, node: cst.Continue) -> None:
        self.flow = True

    def visit_Return(self, node: cst.Return) -> None:
        self.flow = True
