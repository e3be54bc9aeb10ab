"""Which local names are the NKI modules: `import neuronxcc.nki.language as nl` makes `nl` mean nki.language.

Canonical names drop the legacy `neuronxcc.` prefix, so one table serves legacy and current code.
"""

from __future__ import annotations

import libcst as cst

LEGACY_ROOT = "neuronxcc.nki"
CURRENT_ROOT = "nki"


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` as a string; None for anything that is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def canonical(module: str) -> str | None:
    """`neuronxcc.nki.language` -> `nki.language`; `nki.isa` -> `nki.isa`; others None."""
    if module == LEGACY_ROOT or module.startswith(LEGACY_ROOT + "."):
        return CURRENT_ROOT + module[len(LEGACY_ROOT):]
    if module == CURRENT_ROOT or module.startswith(CURRENT_ROOT + "."):
        return module
    return None


class Aliases(cst.CSTVisitor):
    """Collect `local name -> canonical dotted name` for every NKI import in a module (any scope)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.legacy = False

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted(alias.name)
            canon = canonical(full or "")
            if canon is None:
                continue
            self.legacy |= full.startswith(LEGACY_ROOT)
            if alias.asname is not None:
                self.names[alias.asname.name.value] = canon
            else:  # `import neuronxcc.nki.language` binds `neuronxcc`
                root = full.split(".")[0]
                self.names.setdefault(root, "neuronxcc" if root == "neuronxcc" else root)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is None or node.relative:
            return
        module = dotted(node.module) or ""
        if module == "neuronxcc":
            base = "neuronxcc"
        else:
            base = canonical(module)
            if base is None:
                return
        self.legacy |= module.startswith("neuronxcc")
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted(alias.name) or ""
            local = alias.asname.name.value if alias.asname is not None else name
            full = f"{base}.{name}"
            self.names[local] = canonical(full) or full


def resolve(node: cst.BaseExpression, aliases: dict[str, str]) -> str | None:
    """The canonical dotted name an expression refers to (`nl.load` -> `nki.language.load`), or None."""
    text = dotted(node)
    if text is None:
        return None
    root, _, rest = text.partition(".")
    if root not in aliases:
        return None
    base = aliases[root]
    full = f"{base}.{rest}" if rest else base
    return canonical(full) or None


def call_name(node: cst.BaseExpression, aliases: dict[str, str]) -> str | None:
    return resolve(node.func, aliases) if isinstance(node, cst.Call) else None


def code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def arg(call: cst.Call, keyword: str, position: int | None = None) -> cst.Arg | None:
    """The argument given by keyword, or at `position` among the positional ones."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a
    if position is not None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if position < len(positional):
            return positional[position]
    return None
