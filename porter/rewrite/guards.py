"""Guarding imports of CUDA-only packages and extension builds with try/except, and the
`_PorterMissing` stand-in they bind."""

from __future__ import annotations

import libcst as cst

from porter.rewrite.helpers import (
    MISSING_HELPER,
    missing_helper_source,
)
from porter.rewrite.placement import _imported
from porter.rewrite.results import Change
from porter.rewrite.transforms import (
    code_name,
)
from porter.source.catalogue import Rule, glob_match
from porter.source.extensions import imported_extension

# The rule under which imports of the project's own CUDA extension modules are guarded and marked.
EXTENSION_RULE = "NRN408"


# Its JIT builders: a module-level `ext = load(name=..., sources=[...])` is guarded like an import.
JIT_BUILDERS = {"torch.utils.cpp_extension.load", "torch.utils.cpp_extension.load_inline"}


def _guard_import(stmt: cst.SimpleStatementLine, rule_id: str) -> cst.BaseStatement:
    """`from flash_attn import f` → try/except ImportError binding each name to a `_PorterMissing`.

    The stand-in (helpers.MISSING_HELPER) lets module-level uses run, so the file imports without
    the package, and raises ImportError naming the package and the rule when the code is called.
    """
    names = dict(pair for small in stmt.body for pair in _imported(small))
    fallback = "\n".join(f'    {name} = {MISSING_HELPER}("{what}", "{rule_id}")' for name, what in names.items())
    body = stmt.with_changes(leading_lines=[])
    handler = "except ImportError:  # CUDA-only package, absent here"
    template = cst.parse_statement(f"try:\n    pass\n{handler}\n{fallback or '    pass'}\n")
    return template.with_changes(
        body=template.body.with_changes(body=[body]),
        leading_lines=stmt.leading_lines,
    )


def _guard_build(stmt: cst.SimpleStatementLine, names: list[str], what: str) -> cst.BaseStatement:
    """`ext = load(name="fused_ops_cuda", ...)` → try/except Exception binding `ext` to a `_PorterMissing`.

    A JIT build needs nvcc, ninja and a CUDA toolchain, and fails with whatever error the missing piece
    raises (OSError, RuntimeError, CalledProcessError, ...): hence `Exception`. Where the build works
    nothing changes; where it fails the module still imports, and using the extension raises ImportError.
    """
    fallback = "\n".join(f'    {name} = {MISSING_HELPER}("{what}", "{EXTENSION_RULE}")' for name in names)
    handler = "except Exception:  # building a CUDA extension needs nvcc and ninja, absent here"
    template = cst.parse_statement(f"try:\n    pass\n{handler}\n{fallback}\n")
    return template.with_changes(
        body=template.body.with_changes(body=[stmt.with_changes(leading_lines=[])]),
        leading_lines=stmt.leading_lines,
    )


def _in_build_guard(stmt: cst.CSTNode, parents: dict) -> bool:
    """Inside a `try:` with a handler that catches what a failed build raises (bare, Exception, BaseException)."""
    node = parents.get(stmt)
    while node is not None and not isinstance(node, cst.Module):
        if isinstance(node, cst.Try):
            for handler in node.handlers:
                kinds = [e.value for e in handler.type.elements] if isinstance(handler.type, cst.Tuple) \
                    else [handler.type]
                if any(k is None or code_name(k).rsplit(".", 1)[-1] in ("Exception", "BaseException") for k in kinds):
                    return True
        node = parents.get(node)
    return False


def _jit_build(matched: str, node: cst.CSTNode, stmt: cst.CSTNode | None,
               parents: dict) -> tuple[list[str], str] | None:
    """(names bound, extension name) for a `cpp_extension.load(...)` / `load_inline(...)` call assigned to
    plain names in a statement the module runs on import; None for any other site (a use inside a
    function fails only when called, and stays marked)."""
    call = parents.get(node)
    if matched not in JIT_BUILDERS or not isinstance(call, cst.Call) or call.func is not node:
        return None
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Assign):
        targets = [t.target for t in small.targets]
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        targets = [small.target]
    else:
        return None
    if not all(isinstance(t, cst.Name) for t in targets):
        return None
    if not _runs_at_import(stmt, parents) or _in_build_guard(stmt, parents):
        return None
    names = list(dict.fromkeys(t.value for t in targets))
    what = names[0]
    for arg in call.args:
        if (arg.keyword is not None and arg.keyword.value == "name") or (arg.keyword is None and arg is call.args[0]):
            value = arg.value.evaluated_value if isinstance(arg.value, cst.SimpleString) else None
            if isinstance(value, str) and value and all(part.isidentifier() for part in value.split(".")):
                what = value
            if arg.keyword is not None:
                break
    return names, what


def _runs_at_import(stmt: cst.CSTNode, parents: dict) -> bool:
    """True for a statement the module runs when imported: not inside a function (if-blocks,
    loops, with-blocks and class bodies at module level all run)."""
    node = parents.get(stmt)
    while node is not None and not isinstance(node, cst.Module):
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            return False
        node = parents.get(node)
    return True


def _insert_missing_helper(module: cst.Module) -> cst.Module:
    """Define `_PorterMissing` once, right before the first statement that uses it (a guard), so the
    guards' fallbacks can run while the module is being imported."""
    if any(isinstance(stmt, cst.ClassDef) and stmt.name.value == MISSING_HELPER for stmt in module.body) or any(
            name == MISSING_HELPER for stmt in module.body if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body for name, _ in _imported(small)):
        return module
    users = [i for i, stmt in enumerate(module.body) if f"{MISSING_HELPER}(" in module.code_for_node(stmt)]
    if not users:
        return module
    i = users[0]
    helper = cst.parse_statement(missing_helper_source())
    if i > 0:
        helper = helper.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    lines = list(module.body[i].leading_lines)
    while lines and lines[0].comment is None:
        lines.pop(0)
    first = module.body[i].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *lines])
    return module.with_changes(body=[*module.body[:i], helper, first, *module.body[i + 1:]])


def _compiled_module(rule: Rule, matched: str) -> bool:
    """Is this a compiled extension module of the rule's catalogue (a `compiled = true` matcher)?"""
    parts = matched.split(".")
    names = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return any(m.compiled and glob_match(name, m.names) for m in rule.matchers for name in names)


def _is_import(stmt: cst.CSTNode | None) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _inside_import(node: cst.CSTNode, parents: dict) -> bool:
    while node is not None and not isinstance(node, cst.BaseStatement):
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            return True
        node = parents.get(node)
    return False


def _in_import_guard(stmt: cst.CSTNode, parents: dict) -> bool:
    """Is this statement in the body of a `try` that catches ImportError? Not in its handlers,
    `else` or `finally`: a fallback import in `except ImportError:` fails as well when the package
    is absent (as lint sees it: porter.source.site_context.guarded_by_user)."""
    child, node = stmt, parents.get(stmt)
    while node is not None and not isinstance(node, cst.Module):
        if isinstance(node, cst.Try) and child is node.body and any(
            h.type is not None and "ImportError" in code_name(h.type) or
            (h.type is not None and "ModuleNotFoundError" in code_name(h.type)) for h in node.handlers
        ):
            return True
        child, node = node, parents.get(node)
    return False


def _extension_imports(path, target, extensions, catalogue, positions, parents, result, guards, mark) -> None:
    """Guard (or, inside a function, just mark) each import of the project's own compiled
    extensions: they are built from CUDA sources and do not exist on the target."""
    rule = catalogue.get(EXTENSION_RULE)
    if rule is None:
        return
    fix = rule.fix_for(target)
    for node in positions:
        if isinstance(node, cst.Import):
            hits = [hit for alias in node.names
                    for hit in imported_extension(code_name(alias.name), [], 0, path, extensions)]
        elif isinstance(node, cst.ImportFrom):
            names = [] if isinstance(node.names, cst.ImportStar) else [code_name(a.name) for a in node.names]
            module_name = code_name(node.module) if node.module is not None else None
            hits = imported_extension(module_name, names, len(node.relative), path, extensions)
        else:
            continue
        stmt = parents.get(node)
        if not hits or not isinstance(stmt, cst.SimpleStatementLine):
            continue
        start = positions[node].start
        what = ", ".join(hits)
        result.changes.append(Change(EXTENSION_RULE, start.line, start.column + 1, "marked",
                                     f"imports {what}, this project's compiled (CUDA) extension"))
        if not _in_import_guard(stmt, parents) and _runs_at_import(stmt, parents):
            guards.setdefault(stmt, EXTENSION_RULE)
        mark(stmt, rule, fix, f"{what} is this project's CUDA extension, absent on the target")
