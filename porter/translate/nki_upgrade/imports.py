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


# Legacy modules that shipped inside neuronxcc and have no counterpart in the `nki` package: renaming
# them to `nki.<same>` gives an import that fails (NxDI imported `neuronxcc.nki.kernels.cumsum`; its
# NKI 0.8 code imports `nkilib.core.cumsum.cumsum`). They are left as they are and marked (NRN701).
_NO_COUNTERPART = {
    "neuronxcc.nki.kernels": "the NKI library kernels are the `nkilib` package now (e.g. `nkilib.core...`), "
                             "with their own signatures",
    "neuronxcc.nki._private_kernels": "kernels internal to neuronxcc; the public ones are in `nkilib`",
    "neuronxcc.nki._pre_prod_kernels": "kernels internal to neuronxcc; the public ones are in `nkilib`",
    "neuronxcc.nki._private": "internal to neuronxcc",
    "neuronxcc.nki.compiler.backends": "internal to neuronxcc's compiler",
    "neuronxcc.nki.nccl": "collectives are `nki.collectives` in NKI 0.8, with a different API: rewrite the calls",
    "neuronxcc.nki.docs": "examples bundled with neuronxcc: keep your own copy of the kernel",
}


def no_counterpart(module: str) -> str | None:
    """Why `module` (a legacy dotted name) has no `nki` counterpart, or None when it has one."""
    for root, why in _NO_COUNTERPART.items():
        if module == root or module.startswith(root + "."):
            return f"`{module}` has no counterpart in the `nki` package ({why}); replace this import"
    return None


def import_markers(stmt: cst.SimpleStatementLine) -> list[str]:
    """The NRN701 marker texts of an import statement of modules with no `nki` counterpart."""
    out = []
    for small in stmt.body:
        modules = []
        if isinstance(small, cst.Import):
            modules = [dotted(a.name) or "" for a in small.names]
        elif isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
            base = dotted(small.module) or ""
            modules = [base]
            if not isinstance(small.names, cst.ImportStar):
                modules += [f"{base}.{dotted(a.name) or ''}" for a in small.names]
        for m in modules:
            why = no_counterpart(m)
            if why and why not in out:
                out.append(why)
                break
    return out


def fix_imports(up: Upgrader, module: cst.Module) -> cst.Module:
    class Imports(cst.CSTTransformer):
        # Module names of imports are rewritten whole by leave_Import / leave_ImportFrom, not piecewise
        # by leave_Attribute (which would turn `neuronxcc.nki` inside `neuronxcc.nki.kernels.x` into `nki`).
        def visit_Import(self, node: cst.Import) -> bool:
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            return False

        def leave_Import(self, original: cst.Import, updated: cst.Import):
            names = []
            for alias in updated.names:
                full = dotted(alias.name) or ""
                canon = canonical(full) if no_counterpart(full) is None else None
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
            if no_counterpart(module_name) is not None or (
                    not isinstance(updated.names, cst.ImportStar)
                    and any(no_counterpart(f"{module_name}.{dotted(a.name) or ''}") for a in updated.names)):
                return updated  # marked by the statement pass (import_markers)
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
            if text and text.startswith("neuronxcc.nki") and "neuronxcc" not in up.aliases.values() \
                    and no_counterpart(text) is None:
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
