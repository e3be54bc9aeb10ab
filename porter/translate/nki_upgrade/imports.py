"""Imports: `neuronxcc.nki...` -> `nki...`, names gone from `nki` dropped, and the imports / helper
functions a rewrite needs added after the module's imports."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.build import parse_statement
from porter.translate.nki_upgrade.names import canonical, dotted

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

_GONE = {"baremetal", "benchmark", "profile", "simulate_kernel"}

# Legacy submodules whose names now live one level up.
_MOVED_MODULES = {"nki.isa.constants": "nki.isa", "nki.language.constants": "nki.language"}


def fix_imports(up: Upgrader, module: cst.Module) -> cst.Module:
    class Imports(cst.CSTTransformer):
        def leave_Import(self, original: cst.Import, updated: cst.Import):
            names = []
            for alias in updated.names:
                full = dotted(alias.name) or ""
                canon = canonical(full)
                if canon is not None and canon != full:
                    up._note("NRN701", f"import {full} -> import {canon}")
                    alias = alias.with_changes(name=cst.parse_expression(canon))
                if canon is not None and alias.asname is not None and alias.asname.name.value == (
                        dotted(alias.name) or ""):
                    alias = alias.with_changes(asname=None)  # `import nki as nki`
                names.append(alias)
            return updated.with_changes(names=names)

        def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
            if updated.module is None or updated.relative:
                return updated
            module_name = dotted(updated.module) or ""
            if module_name == "neuronxcc" and not isinstance(updated.names, cst.ImportStar):
                kept = [a for a in updated.names if (dotted(a.name) or "") != "nki"]
                nki_alias = [a for a in updated.names if (dotted(a.name) or "") == "nki"]
                if nki_alias and not kept:
                    up._note("NRN701", "from neuronxcc import nki -> import nki")
                    asname = nki_alias[0].asname
                    return cst.Import(names=[cst.ImportAlias(name=cst.Name("nki"), asname=asname)])
                return updated
            canon = canonical(module_name)
            canon = _MOVED_MODULES.get(canon, canon)
            if canon is None or canon == module_name and canon != "nki":
                return updated
            if isinstance(updated.names, cst.ImportStar):
                return updated.with_changes(module=cst.parse_expression(canon))
            names = list(updated.names)
            if canon == "nki":
                gone = [a for a in names if (dotted(a.name) or "") in _GONE]
                if gone:
                    up.need_nki = True
                names = [a for a in names if (dotted(a.name) or "") not in _GONE]
            if not names:
                return cst.RemoveFromParent()
            names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            if canon != module_name:
                up._note("NRN701", f"from {module_name} import ... -> from {canon} import ...")
            return updated.with_changes(module=cst.parse_expression(canon), names=names)

        def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
            text = dotted(updated)
            if text and text.startswith("neuronxcc.nki") and "neuronxcc" not in up.aliases.values():
                canon = canonical(text)
                if canon:
                    return cst.parse_expression(canon)
            return updated

    new = module.visit(Imports())
    if up.need_nki and not _binds(new, up.nki):
        new = add_import(new, f"import {up.nki}" if up.nki == "nki" else f"import nki as {up.nki}")
    return new


def _binds(module: cst.Module, name: str) -> bool:
    found = []

    class V(cst.CSTVisitor):
        def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
            bound = node.asname.name.value if node.asname else (dotted(node.name) or "").split(".")[0]
            if bound == name:
                found.append(1)

    module.visit(V())
    return bool(found)


def _after_imports(body: list[cst.BaseStatement]) -> int:
    """The index just after the last top-level import statement (0 if there is none)."""
    index = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom)):
            index = i + 1
    return index


def add_import(module: cst.Module, line: str) -> cst.Module:
    """`line` (an import statement) added after the module's last import."""
    body = list(module.body)
    body.insert(_after_imports(body), parse_statement(line))
    return module.with_changes(body=body)


def add_helper(module: cst.Module, source: str) -> cst.Module:
    """The statements of `source` (helper functions) added after the module's last import."""
    body = list(module.body)
    index = _after_imports(body)
    helper = cst.parse_module(source).body
    return module.with_changes(body=[*body[:index], *helper, *body[index:]])
