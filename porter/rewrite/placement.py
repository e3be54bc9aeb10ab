"""Where porter's helpers go in a file, and which name the file imports torch as."""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from porter.rewrite.helpers import DEVICE_HELPER
from porter.rewrite.imports import drop_unused_imports
from porter.rewrite.parsing import parse_statement
from porter.rewrite.positions import Positions
from porter.rewrite.scopes import needs_module_import
from porter.rewrite.transforms import (
    code_name,
)


def _torch_alias(module: cst.Module) -> str | None:
    """The name a plain top-level `import torch` binds, if the module has one."""
    return _alias_in(stmt for stmt in module.body if isinstance(stmt, cst.SimpleStatementLine))


def _alias_in(lines) -> str | None:
    """The name the first `import torch [as T]` among these lines of simple statements binds."""
    for line in lines:
        for small in line.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if code_name(alias.name) == "torch":
                        return alias.asname.name.value if alias.asname else "torch"
    return None


def _statement_lines(body) -> list[cst.SimpleStatementLine | cst.SimpleStatementSuite]:
    """Every line of simple statements in a body, nested blocks included, in source order; only
    statements are walked, not expressions (most of a big file's nodes)."""
    found: list = []
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            found.append(stmt)
            continue
        suites = [getattr(stmt, "body", None)]
        suites += [handler.body for handler in getattr(stmt, "handlers", ())]
        suites += [case.body for case in getattr(stmt, "cases", ())]
        orelse = getattr(stmt, "orelse", None)
        while orelse is not None:  # an elif chain, then its else
            suites.append(orelse.body)
            orelse = getattr(orelse, "orelse", None) if isinstance(orelse, cst.If) else None
        finalbody = getattr(stmt, "finalbody", None)
        if finalbody is not None:
            suites.append(finalbody.body)
        for suite in suites:
            if isinstance(suite, cst.IndentedBlock):
                found += _statement_lines(suite.body)
            elif isinstance(suite, cst.SimpleStatementSuite):
                found.append(suite)
    return found


def _torch_anywhere(module: cst.Module) -> str | None:
    """The file's name for torch when it imports torch only lazily or under a condition (inside a
    function, a try, an if): porter then never adds a module-level `import torch` of its own."""
    return _alias_in(_statement_lines(module.body))


def _leading_imports_end(body: list) -> int:
    """Index just past the module's opening block: docstring, imports and try-wrapped imports.

    Helpers go there: before the first statement that could call them, after `from __future__`.
    """
    end = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and all(
            isinstance(s, (cst.Import, cst.ImportFrom)) or (isinstance(s, cst.Expr) and i == 0) for s in stmt.body
        ):
            end = i + 1
        elif isinstance(stmt, cst.Try) and all(
            isinstance(s, cst.SimpleStatementLine) and all(isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body)
            for s in stmt.body.body
        ):
            end = i + 1
        else:
            break
    return end


def importing_torch_itself(helper: cst.FunctionDef, torch_alias: str,
                           note: str = "not imported at the top of this file") -> cst.FunctionDef:
    """The helper with its own `import torch` (after its docstring): for a file that imports torch
    only after statements that may already call the helper, and for the shared helper module."""
    statements = list(helper.body.body)
    at = 1 if statements and isinstance(statements[0], cst.SimpleStatementLine) and isinstance(
        statements[0].body[0], cst.Expr) else 0
    line = "import torch" if torch_alias == "torch" else f"import torch as {torch_alias}"
    statements.insert(at, cst.parse_statement(f"{line}  # {note}\n"))
    return helper.with_changes(body=helper.body.with_changes(body=statements))


def _insert_helpers(module: cst.Module, sources: list[tuple[str, str]], torch_alias: str = "torch") -> cst.Module:
    """Add helper functions right after the opening imports, each once: one already defined by name
    is kept. A helper that needs torch imports it itself when the file imports torch only later."""
    defined = {stmt.name.value for stmt in module.body if isinstance(stmt, cst.FunctionDef)}
    # ... or imported: a package file takes them from its package's shared module (shared_helpers.py)
    defined |= {name for stmt in module.body if isinstance(stmt, cst.SimpleStatementLine)
                for small in stmt.body for name, _ in _imported(small)}
    sources = [(name, source) for name, source in sources if name not in defined]
    if not sources:
        return module
    body = list(module.body)
    insert_at = _leading_imports_end(body)
    # No torch import at all: add_module_imports adds one to the opening imports afterwards.
    # torch imported only later, or only lazily / under a condition: the helper imports it itself.
    torch_late = _torch_anywhere(module) is not None and _torch_alias(cst.Module(body=body[:insert_at])) is None
    uses_torch = re.compile(rf"\b{re.escape(torch_alias)}\.")
    helpers = []
    for _, source in sources:
        # parsed once per text (a helper's source is the same in every file with the same torch name)
        helper = parse_statement(source).with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        if torch_late and isinstance(helper, cst.FunctionDef) and uses_torch.search(source):
            helper = importing_torch_itself(helper, torch_alias)
        helpers.append(helper)
    if insert_at == 0:
        helpers[0] = helpers[0].with_changes(leading_lines=[])
    after = body[insert_at:]
    if after and isinstance(after[0], (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        lines = list(after[0].leading_lines)
        while lines and lines[0].comment is None:
            lines.pop(0)
        after[0] = after[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *lines])
    return module.with_changes(body=[*body[:insert_at], *helpers, *after])


def _imported(small: cst.BaseSmallStatement) -> list[tuple[str, str]]:
    """(name bound, module or object imported) for each name an import statement binds."""
    if isinstance(small, cst.Import):
        return [(a.asname.name.value if a.asname else code_name(a.name).split(".")[0],
                 code_name(a.name) if a.asname else code_name(a.name).split(".")[0]) for a in small.names]
    if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        base = "." * len(small.relative) + (code_name(small.module) if small.module is not None else "")
        base = base if base.endswith(".") or not base else base + "."
        return [(a.asname.name.value if a.asname else code_name(a.name), base + code_name(a.name))
                for a in small.names]
    return []


def add_module_imports(module: cst.Module, names: list[str]) -> cst.Module:
    """`import NAME` for each of `names` the module's top import block does not import yet, after
    that block: libcst's AddImportsVisitor for plain module imports, without its copy and walks of
    the whole tree (tests/rewrite/test_add_imports.py compares the two)."""
    body = module.body
    start = 1 if _docstring_or_strict_first(body) else 0
    end, present = start, set()
    for at in range(start, len(body)):
        stmt = body[at]
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom))):
            break
        if isinstance(stmt.body[0], cst.Import):
            present.update(alias.evaluated_name for alias in stmt.body[0].names if alias.asname is None)
        end = at + 1
    missing = sorted(set(names) - present)
    if not missing:
        return module
    after = list(body[end:])
    if after and not after[0].leading_lines:  # one empty line between the imports and the rest
        after[0] = after[0].with_changes(leading_lines=(cst.EmptyLine(),))
    elif after and after[0].leading_lines[0].comment is not None:
        after[0] = after[0].with_changes(leading_lines=(cst.EmptyLine(), *after[0].leading_lines))
    added = [cst.parse_statement(f"import {name}", config=module.config_for_parsing) for name in missing]
    return module.with_changes(body=(*body[:end], *added, *after))


def finish_imports(module: cst.Module, needed: list[str], original: str, reuse: Positions,
                   whole_text: Callable[[str], str | None] | None = None) -> tuple[cst.Module, str]:
    """The module with the imports its fixes need added (`needed`, after its opening imports) and
    those the port left unused dropped, and its code. `import torch` stays added only if the ported
    code reads torch from the module's namespace and the file binds it no other way
    (scopes.needs_module_import): a file that stubs torch, or takes it from
    `pytest.importorskip("torch")`, keeps its own. `whole_text`: for a cut file
    (porter.rewrite.narrow), the whole file from the cut's code, which the scopes are read from.
    Raises SyntaxError when the ported code does not parse."""
    ported, code = drop_unused_imports(add_module_imports(module, needed) if needed else module, original, reuse=reuse)
    if "torch" in needed:
        whole = whole_text(code) if whole_text is not None else code
        # porter's device helper in the file reads torch from the module's namespace: it is read
        helper = any(isinstance(stmt, cst.FunctionDef) and stmt.name.value == DEVICE_HELPER for stmt in module.body)
        if whole is not None and not needs_module_import(whole, "torch", read=helper):
            rest = [name for name in needed if name != "torch"]
            ported, code = drop_unused_imports(add_module_imports(module, rest) if rest else module, original,
                                               reuse=reuse)
    return ported, code


def _docstring_or_strict_first(body) -> bool:
    """Imports never go above a module's docstring or `__strict__` flag."""
    if not body or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return False
    small = body[0].body[0]
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.SimpleString)
    return (isinstance(small, cst.Assign) and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == "__strict__")
