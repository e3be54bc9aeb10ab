"""Porting one file: lint it, apply each finding's fix for the target, mark what cannot be fixed.

The lint engine finds the sites (one source of truth for matching); libcst rewrites them, so
formatting and comments survive. Markers are comments above the statement:
`# porter: NRN401 <what to do>`; a marker already present is never added again.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from porter.rewrite.helpers import (
    DEVICE_HELPER,
    EXTRA_HELPERS,
    MISSING_HELPER,
    device_helper_source,
    extra_helper_source,
    missing_helper_source,
)
from porter.rewrite.imports import drop_unused_imports
from porter.rewrite.linelength import wrap_marker
from porter.rewrite.sites import SiteIndex
from porter.rewrite.swaps import SwapPlan
from porter.rewrite.transforms import (
    CannotFix,
    FileContext,
    autocast_transform,
    code_name,
    device_transform,
    device_type_transform,
    guarded_call,
    guarded_statement,
    is_torch_device,
    keywords_transform,
    own_values,
    remove_statement,
    rename_transform,
    replace_transform,
    statement_transform,
    value_transform,
)
from porter.source.catalogue import Catalogue, Fix, Rule, glob_match
from porter.source.engine import RuleIndex, analyse_source
from porter.source.extensions import imported_extension
from porter.source.findings import Finding

# The rule under which imports of the project's own CUDA extension modules are guarded and marked.
EXTENSION_RULE = "NRN408"
# Its JIT builders: a module-level `ext = load(name=..., sources=[...])` is guarded like an import.
JIT_BUILDERS = {"torch.utils.cpp_extension.load", "torch.utils.cpp_extension.load_inline"}
UNSAFE_NOT_APPLIED = "unsafe fix; --unsafe-fixes applies it"
MARKER = re.compile(r"#\s*porter:\s*(NRN\d{3})\b")


@dataclass
class Change:
    """One site in the port report."""

    rule_id: str
    line: int
    col: int
    # fixed | marked | unsafe-skipped | informational
    action: str
    detail: str = ""
    # What matched (a qualified name, `keyword=value`): markers and the report name it.
    name: str = ""
    # Kernel-swap sites (porter.rewrite.swaps): "swapped" (detail: what it now calls) or "not-swapped"
    # (detail: why); "" for every other site.
    swap: str = ""
    # A not-swapped site whose marker is another rule's (the NRN415 argument in its call): that rule's id.
    covered_by: str = ""


@dataclass
class FilePort:
    path: str
    original: str
    ported: str
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    # The source's own encoding (BOM / PEP 263 cookie, as read): the ported text is written in it.
    encoding: str = "utf-8"

    @property
    def changed(self) -> bool:
        return self.ported != self.original


def _statement_of(node: cst.CSTNode, parents: dict) -> cst.CSTNode | None:
    while node is not None:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return node
        node = parents.get(node)
    return None


def _method_call(node: cst.CSTNode, parents: dict) -> cst.CSTNode:
    """A method finding points at the method's name: widen it to the call (or the attribute)."""
    if isinstance(node, cst.Name):
        attribute = parents.get(node)
        if isinstance(attribute, cst.Attribute) and attribute.attr is node:
            call = parents.get(attribute)
            if isinstance(call, cst.Call) and call.func is attribute:
                return call
            return attribute
    return node


def _call_of(node: cst.CSTNode, parents: dict) -> cst.CSTNode:
    """The call a callee name or an argument belongs to."""
    if isinstance(node, cst.Call):
        return node  # already a call: never widen to a call it is an argument of
    parent = parents.get(node)
    if isinstance(parent, cst.Call) and (parent.func is node or node in parent.args):
        return parent
    if isinstance(parent, cst.Arg):
        grand = parents.get(parent)
        if isinstance(grand, cst.Call):
            return grand
    return node


def _torch_alias(module: cst.Module) -> str | None:
    """The name a plain top-level `import torch` binds, if the module has one."""
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        if code_name(alias.name) == "torch":
                            return alias.asname.name.value if alias.asname else "torch"
    return None


class _TorchImports(cst.CSTVisitor):
    """Every `import torch [as T]` of a file, wherever it stands (in a try, an if, a function)."""

    def __init__(self) -> None:
        self.aliases: list[str] = []

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if code_name(alias.name) == "torch":
                self.aliases.append(alias.asname.name.value if alias.asname else "torch")


def _torch_anywhere(module: cst.Module) -> str | None:
    """The file's name for torch when it imports torch only lazily or under a condition (inside a
    function, a try, an if): porter then never adds a module-level `import torch` of its own."""
    visitor = _TorchImports()
    module.visit(visitor)
    return visitor.aliases[0] if visitor.aliases else None


def _marker_text(rule: Rule, fix: Fix, reason: str = "", site_only: bool = False, name: str = "") -> str:
    if site_only:  # the rule has a fix, but lint saw this site cannot take it
        what = f"{rule.title}: not rewritten here, {reason}"
    else:
        what = (fix.marker or fix.result or rule.title).replace("{name}", name or "this construct")
        if reason:
            what = f"{what} ({reason})"
    what = " ".join(what.replace("`", "").split())
    return f"# porter: {rule.id} {what}"


def _existing_markers(stmt: cst.CSTNode) -> set[str]:
    lines = getattr(stmt, "leading_lines", ())
    return {MARKER.search(line.comment.value).group(1) for line in lines
            if line.comment is not None and MARKER.search(line.comment.value)}


def _markers_above(stmt: cst.CSTNode, parents: dict) -> set[str]:
    """Rule ids marked above this statement, or above the compound statements it opens.

    A guarded import's marker sits above its `try:`; the import inside is the first statement of
    that block, so the marker counts as its own on the next port.
    """
    found = set(_existing_markers(stmt))
    node = stmt
    while True:
        block = parents.get(node)
        if isinstance(block, cst.Module) and block.body and block.body[0] is node:
            # Comments at the very top of a file belong to the module's header in libcst.
            found |= {m.group(1) for line in block.header if line.comment is not None
                      for m in [MARKER.search(line.comment.value)] if m}
            return found
        owner = parents.get(block) if isinstance(block, cst.IndentedBlock) else None
        if owner is None or not block.body or block.body[0] is not node:
            return found
        found |= _existing_markers(owner)
        node = owner


class _Rewriter(cst.CSTTransformer):
    def __init__(self, edits: dict, markers: dict, guards: dict, splits: dict | None = None,
                 builds: dict | None = None) -> None:
        super().__init__()
        self.edits = edits
        self.markers = markers
        self.guards = guards
        self.splits = splits or {}
        self.builds = builds or {}

    def on_leave(self, original, updated):
        split = self.splits.get(original)
        if split is not None:
            return self._split(original, split)
        edit = self.edits.get(original)
        if edit is not None:
            updated = edit(updated)
        if original in self.markers and hasattr(updated, "leading_lines"):
            present = _existing_markers(updated)
            new_lines = [cst.EmptyLine(comment=cst.Comment(line)) for rule_id, text in self.markers[original]
                         if rule_id not in present for line in text.split("\n")]
            if new_lines:
                updated = updated.with_changes(leading_lines=[*updated.leading_lines, *new_lines])
        if original in self.guards and isinstance(updated, cst.SimpleStatementLine):
            updated = _guard_import(updated, self.guards[original])
        elif original in self.builds and isinstance(updated, cst.SimpleStatementLine):
            updated = _guard_build(updated, *self.builds[original])
        return updated

    def _split(self, original: cst.SimpleStatementLine, split) -> cst.CSTNode:
        """An import whose names with a drop-in now come from the shims; the markers and the package's
        guard go with the names that stay."""
        present = _existing_markers(original)
        marker_lines = [cst.EmptyLine(comment=cst.Comment(line)) for rule_id, text in self.markers.get(original, ())
                        if rule_id not in present for line in text.split("\n")]
        if split.rest is None:
            return split.swapped.with_changes(leading_lines=[*split.swapped.leading_lines, *marker_lines])
        rest = split.rest.with_changes(leading_lines=marker_lines)
        if original in self.guards:
            rest = _guard_import(rest, self.guards[original])
        return cst.FlattenSentinel([split.swapped, rest])


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
    node = parents.get(stmt)
    while node is not None and not isinstance(node, cst.Module):
        if isinstance(node, cst.Try) and any(
            h.type is not None and "ImportError" in code_name(h.type) or
            (h.type is not None and "ModuleNotFoundError" in code_name(h.type)) for h in node.handlers
        ):
            return True
        node = parents.get(node)
    return False


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


def _importing_torch_itself(helper: cst.FunctionDef, torch_alias: str) -> cst.FunctionDef:
    """The helper with its own `import torch` (after its docstring): for a file that imports torch
    only after statements that may already call the helper."""
    statements = list(helper.body.body)
    at = 1 if statements and isinstance(statements[0], cst.SimpleStatementLine) and isinstance(
        statements[0].body[0], cst.Expr) else 0
    line = "import torch" if torch_alias == "torch" else f"import torch as {torch_alias}"
    statements.insert(at, cst.parse_statement(f"{line}  # not imported at the top of this file\n"))
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
    # No torch import at all: AddImportsVisitor adds one to the opening imports afterwards.
    # torch imported only later, or only lazily / under a condition: the helper imports it itself.
    torch_late = _torch_anywhere(module) is not None and _torch_alias(cst.Module(body=body[:insert_at])) is None
    uses_torch = re.compile(rf"\b{re.escape(torch_alias)}\.")
    helpers = []
    for _, source in sources:
        helper = cst.parse_statement(source).with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        if torch_late and isinstance(helper, cst.FunctionDef) and uses_torch.search(source):
            helper = _importing_torch_itself(helper, torch_alias)
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


def _fstring_quote(node: cst.CSTNode, parents: dict) -> str:
    """The quote character of the f-string this node sits in, if any ("" outside f-strings)."""
    while node is not None and not isinstance(node, cst.BaseStatement):
        node = parents.get(node)
        if isinstance(node, cst.FormattedString):
            return node.start.lstrip("rRfFbBuU")[:1]
    return ""


class _Requote(cst.CSTTransformer):
    """Before Python 3.12 an f-string's expressions cannot hold its own quote character: a string
    a fix writes there (`== "neuron"`) takes the other quote."""

    def __init__(self, quote: str) -> None:
        self.quote, self.other = quote, "'" if quote == '"' else '"'

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        prefix = updated.prefix
        body = updated.value[len(prefix):]
        if body[:1] != self.quote or body[:3] == self.quote * 3:
            return updated
        inner = body[1:-1]
        if self.other in inner or "\\" in inner:
            return updated
        return updated.with_changes(value=f"{prefix}{self.other}{inner}{self.other}")


def _requoting(edit: Callable, quote: str) -> Callable:
    return lambda node: edit(node).visit(_Requote(quote))


def _inside(node: cst.CSTNode, parents: dict, kind: type) -> bool:
    while node is not None and not isinstance(node, cst.BaseStatement):
        node = parents.get(node)
        if isinstance(node, kind):
            return True
    return False


class _SiteContext:
    """The file's context, with the torch alias this site spells (`import torch as T` in a function)."""

    def __init__(self, ctx: FileContext, alias: str) -> None:
        self._ctx, self._alias = ctx, alias

    def render(self, template: str, args: str = "", **values: str) -> str:
        saved, self._ctx.torch_alias = self._ctx.torch_alias, self._alias
        try:
            return self._ctx.render(template, args, **values)
        finally:
            self._ctx.torch_alias = saved

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _site_context(ctx: FileContext, node: cst.CSTNode, matched: str) -> FileContext:
    """`T.cuda.is_available()` where a function imports torch as T: its fix writes `T.`, not the file's name."""
    spelled = code_name(node.func if isinstance(node, cst.Call) else node) if isinstance(
        node, (cst.Name, cst.Attribute, cst.Call)) else ""
    head, _, rest = spelled.partition(".")
    if matched.startswith("torch.") and rest and rest == matched.partition(".")[2] and head != ctx.torch_alias:
        return _SiteContext(ctx, head)
    return ctx


def _apply_fix(rule: Rule, fix: Fix, node: cst.CSTNode, parents: dict, ctx: FileContext) -> Callable | None:
    """The edit for one site: a function from the (possibly already rewritten) node to its replacement."""
    kind = fix.transform
    if kind == "device":
        target = _method_call(node, parents)
        call = _call_of(target, parents)
        if call is not target and isinstance(call, cst.Call) and is_torch_device(call.func):
            # torch.device("cuda", rank): the whole call becomes the helper's call.
            target = call
        in_lambda = _inside(target, parents, cst.Lambda)
        return target, lambda n: device_transform(n, ctx, keyword=in_lambda, as_string=fix.to == "str",
                                                  as_index=fix.to == "index")
    if kind == "device-type":
        target = node
        while target is not None and not isinstance(target, cst.Comparison):
            target = parents.get(target)
        if target is None:
            raise CannotFix("not inside a comparison")
        return target, lambda n: device_type_transform(n, ctx, fix.to)
    if kind == "autocast":
        target = _call_of(_method_call(node, parents), parents)
        return target, lambda n: autocast_transform(n, ctx, fix.set)
    if kind in ("statement", "remove"):
        line = _statement_of(node, parents)
        if not isinstance(line, cst.SimpleStatementLine):
            raise CannotFix(f"{kind} needs a simple statement")
        if kind == "statement":
            return line, lambda n: statement_transform(n, ctx, fix.to)
        block = parents.get(line)
        only_child = isinstance(block, cst.IndentedBlock) and len(block.body) == 1
        return line, lambda n: remove_statement(n, only_child)
    if kind == "rename":
        target = _method_call(node, parents)
        if isinstance(target, cst.Call):
            return target.func, lambda n: rename_transform(n, ctx, fix.to)
        return target, lambda n: rename_transform(n, ctx, fix.to)
    if kind == "replace":
        target = _call_of(_method_call(node, parents), parents)
        return target, lambda n: replace_transform(n, ctx, fix.to)
    if kind == "value":
        return node, lambda n: value_transform(n, ctx, fix.to)
    if kind == "keywords":
        parent = parents.get(node)
        # An argument's value (`device_id=torch.cuda.current_device()`): its call is the one the
        # argument is passed to, never a call the value itself makes.
        is_value = isinstance(parent, cst.Arg) and parent.value is node
        target = parents.get(parent) if is_value else _call_of(node, parents)
        if isinstance(parents.get(target), cst.Decorator) and not isinstance(target, cst.Call):
            # a bare `@torch.compile` becomes `@torch.compile(backend=...)`
            return target, lambda n: keywords_transform(cst.Call(func=n), ctx, fix.set, list(fix.drop))
        keep = own_values(target) if fix.applicability == "safe" else {}
        return target, lambda n: keywords_transform(n, ctx, fix.set, list(fix.drop), keep=keep)
    if kind == "guarded-call":
        target = _call_of(_method_call(node, parents), parents)
        expr_stmt = parents.get(target)
        line = parents.get(expr_stmt)
        if isinstance(expr_stmt, cst.Expr) and isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
            # A call made for its effect becomes `if <guard>: <call>`.
            return line, lambda n: guarded_statement(n, ctx, fix.to, fix.guard)
        return target, lambda n: guarded_call(n, ctx, fix.to, fix.guard, fix.default)
    raise CannotFix(f"unknown transform {kind!r}")


def port_source(
    source: str,
    path: str,
    index: RuleIndex,
    catalogue: Catalogue,
    target: str,
    unsafe_fixes: bool = False,
    extension_modules: frozenset[str] = frozenset(),
    line_length: int | None = None,
    findings: list[Finding] | None = None,
) -> FilePort:
    """Port one file. `extension_modules` are the compiled extensions the project declares
    (extensions.discover_extension_modules): their imports are guarded and marked as NRN408.
    `line_length`: the project's configured line length (linelength.py); markers wrap to it.
    `findings`: the file's lint findings when the caller has them (porter.rewrite.narrow)."""
    if findings is None:
        findings = analyse_source(source, path, index)
    findings = [f for f in findings if not f.suppressed]
    result = FilePort(path, source, source)
    errors = [f for f in findings if f.rule_id.startswith("NRN0")]
    if errors:
        result.error = errors[0].message
        return result
    if EXTENSION_RULE not in index.reported or not any(e.rsplit(".", 1)[-1] in source for e in extension_modules):
        extension_modules = frozenset()
    if not findings and not extension_modules:
        return result
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    # One batched pass for both providers: metadata is most of a port's time on large files.
    metadata = wrapper.resolve_many([PositionProvider, ParentNodeProvider])
    positions, parents = metadata[PositionProvider], metadata[ParentNodeProvider]
    sites = SiteIndex(positions)
    ctx = FileContext(torch_alias=_torch_alias(module) or _torch_anywhere(module) or "torch")
    edits: dict[cst.CSTNode, Callable] = {}
    markers: dict[cst.CSTNode, list[tuple[str, str]]] = {}
    guards: dict[cst.CSTNode, str] = {}
    builds: dict[cst.CSTNode, tuple[list[str], str]] = {}

    # One marker per rule and statement: the names and reasons of its sites there are merged into it.
    marked: dict[tuple[cst.CSTNode, str], tuple[list[str], list[str]]] = {}

    def mark(stmt, rule, fix, reason="", site_only=False, name=""):
        if stmt is not None:
            if rule.id in _markers_above(stmt, parents):
                return  # a marker from an earlier port (perhaps above the try it is now in) stays single
            names, reasons = marked.setdefault((stmt, rule.id), ([], []))
            for value, values in ((name, names), (reason, reasons)):
                if value and value not in values:
                    values.append(value)
            text = _marker_text(rule, fix, "; ".join(reasons), site_only, ", ".join(names))
            if line_length:
                text = wrap_marker(text, line_length - positions[stmt].start.column)
            entry = (rule.id, text)
            entries = markers.setdefault(stmt, [])
            at = next((i for i, (rule_id, _) in enumerate(entries) if rule_id == rule.id), None)
            if at is None:
                entries.append(entry)
            else:
                entries[at] = entry

    plan = SwapPlan(catalogue, parents)

    for finding in findings:
        rule = catalogue.get(finding.rule_id)
        if rule is None:
            continue
        fix = rule.fix_for(target)
        node = sites.locate(finding)
        stmt = _statement_of(node, parents) if node is not None else None
        change = Change(finding.rule_id, finding.line, finding.col, "informational", fix.result, finding.matched)
        result.changes.append(change)
        plan.add(finding, rule, fix, change, node, stmt)
        if node is None:
            # The exact node was not found (ast and libcst disagree on a range): the marker still goes
            # above the statement on that line, so nothing is lost silently.
            change.action, change.detail = "marked", finding.message
            if fix.applicability != "none":
                mark(sites.statement_at(finding.line), rule, fix, name=finding.matched)
            continue
        if fix.applicability == "none":
            continue
        if fix.applicability == "unsafe" and not unsafe_fixes:
            # Left to do like any marked site: the reader of the ported file sees it there.
            change.action = "unsafe-skipped"
            mark(stmt, rule, fix, UNSAFE_NOT_APPLIED, name=finding.matched)
            continue
        if fix.applicability == "manual" or not fix.transform:
            change.action, change.detail = "marked", finding.message
            build = _jit_build(finding.matched, node, stmt, parents) if rule.id == EXTENSION_RULE else None
            if build is not None:
                # The module-level JIT build is guarded so the file imports; the kernel still needs a person.
                builds.setdefault(stmt, build)
                bound = ", ".join(build[0])
                guarded = f"build guarded: where {build[1]} cannot be built, {bound} is a stand-in raising ImportError"
                change.detail = f"{finding.message}; {guarded} when used"
                mark(stmt, rule, fix, guarded, name=finding.matched)
                continue
            if _compiled_module(rule, finding.matched) and _is_import(stmt) and _inside_import(node, parents):
                # a catalogued extension module another package builds (rules/kernels.toml, NRN408):
                # guarded like the project's own, so the file imports without it
                if not _in_import_guard(stmt, parents) and _runs_at_import(stmt, parents):
                    guards.setdefault(stmt, EXTENSION_RULE)
                mark(stmt, rule, fix, f"{finding.matched} is a compiled CUDA extension, absent on the target")
                continue
            mark(stmt, rule, fix, name=finding.matched)
            continue
        if fix.transform == "swap-import":
            continue  # settled below, once every import of the file is known (porter.rewrite.swaps)
        if fix.transform == "guard-import":
            change.action = "fixed"
            if not isinstance(stmt, cst.SimpleStatementLine) or not any(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
            ):
                # A use of the package, not its import: the marker says what to do instead.
                change.action = "marked"
                mark(stmt, rule, fix)
            elif _in_import_guard(stmt, parents):
                pass  # the project guards this import itself
            elif _runs_at_import(stmt, parents):
                # Top level, or in an if/with/loop block the module runs on import: guarded in place.
                guards.setdefault(stmt, rule.id)
                if fix.marker:
                    mark(stmt, rule, fix)
            else:
                # Inside a function the import only runs, and fails, when the function is called.
                change.action = "marked"
                mark(stmt, rule, fix)
            continue
        if finding.manual:  # the engine saw why this site cannot take the fix
            change.action, change.detail = "marked", finding.manual
            mark(stmt, rule, fix, finding.manual, site_only=True)
            continue
        try:
            site, edit = _apply_fix(rule, fix, node, parents, _site_context(ctx, node, finding.matched))
        except CannotFix as exc:
            change.action, change.detail = "marked", str(exc)
            mark(stmt, rule, fix, str(exc))
            continue
        quote = _fstring_quote(site, parents)
        if quote:
            edit = _requoting(edit, quote)
        # Several fixes may rewrite one node (`.cuda(non_blocking=True)`): they run in turn.
        previous = edits.get(site)
        current = _safe_edit(edit, site, rule, fix, stmt, change, mark)
        edits[site] = current if previous is None else _chain(previous, current)
        change.action = "fixed"

    if extension_modules:
        _extension_imports(path, target, extension_modules, catalogue, positions, parents, result, guards, mark)
    splits = plan.resolve(mark)
    new_module = wrapper.module.visit(_Rewriter(edits, markers, guards, splits, builds))
    plan.finish(plan.sites)
    helpers: list[tuple[str, str]] = []
    if ctx.needs_device_helper:
        helpers.append((DEVICE_HELPER, device_helper_source(target, ctx.torch_alias)))
    helpers += [(name, extra_helper_source(name, ctx.torch_alias)) for name in EXTRA_HELPERS
                if name in ctx.extra_helpers]
    new_module = _insert_helpers(new_module, helpers, ctx.torch_alias)
    if guards or builds:
        new_module = _insert_missing_helper(new_module)
    needed = sorted(ctx.imports) + (["torch"] if ctx.uses_torch and _torch_anywhere(new_module) is None else [])
    if needed:
        context = CodemodContext()
        for module_name in needed:
            AddImportsVisitor.add_needed_import(context, module_name)
        new_module = AddImportsVisitor(context).transform_module(new_module)
    new_module = drop_unused_imports(new_module, source)
    code = new_module.code
    try:
        ast.parse(code)
    except SyntaxError as exc:  # never write a file that does not parse
        result.error = f"internal error: the ported file would not parse ({exc.msg}, line {exc.lineno})"
        result.changes = []  # nothing of it is written: no site counts as fixed
        return result
    result.ported = code
    _settle_resolved(result, findings, sites, parents, edits, index, path, markers)
    return result


def _site_of(change: Change, where: dict, sites: SiteIndex) -> cst.CSTNode | None:
    finding = where.get((change.rule_id, change.line, change.col))
    return sites.locate(finding) if finding is not None else None


def _settle_resolved(result: FilePort, findings, sites: SiteIndex, parents: dict, edits: dict,
                     index: RuleIndex, path: str, markers: dict) -> None:
    """A finding is not left to do when another applied fix already rewrote its construct away:
    NRN202 turns `torch.autocast("cuda", dtype=torch.float16)` into bf16, which resolves NRN207
    (fp16 autocast); NRN101 turns `.cuda("cuda:0")` into `.to(_porter_device(0))`, which resolves
    the NRN105 device string. The ported text is analysed again; a rule with fewer findings left
    than sites not fixed had sites resolved, taken among those inside a rewritten node. A resolved
    site's marker (added by this port) is taken out again when it is unambiguous."""
    pending = [c for c in result.changes if c.action in ("unsafe-skipped", "marked")]
    if not pending or not edits or not result.changed:
        return
    after: dict[str, int] = {}
    for finding in analyse_source(result.ported, path, index):
        if not finding.suppressed:
            after[finding.rule_id] = after.get(finding.rule_id, 0) + 1
    where = {(f.rule_id, f.line, f.col): f for f in findings}
    code = result.ported
    for rule_id in dict.fromkeys(c.rule_id for c in pending):
        expected = sum(1 for c in result.changes if c.rule_id == rule_id and c.action != "fixed")
        resolved = expected - after.get(rule_id, 0)
        for change in [c for c in pending if c.rule_id == rule_id]:
            if resolved <= 0:
                break
            site = _site_of(change, where, sites)
            node = site
            while node is not None and node not in edits:
                node = parents.get(node)
            if node is None:
                continue
            if change.action == "marked":
                # One marker per rule and statement: it goes only if it is this site's alone.
                stmt = _statement_of(site, parents)
                sharing = [c for c in pending if c.rule_id == rule_id and c.action == "marked"
                           and _statement_of(_site_of(c, where, sites), parents) is stmt]
                texts = [text for rid, text in markers.get(stmt, ()) if rid == rule_id]
                lines = code.splitlines(keepends=True)
                block = texts[0].split("\n") if texts else []  # a marker wrapped to the line length is a block
                at = [i for i in range(len(lines)) if block and [x.strip() for x in lines[i:i + len(block)]] == block]
                if len(sharing) != 1 or len(texts) != 1 or len(at) != 1:
                    continue  # the marker cannot be told apart from another: it stays, and so does the item
                code = "".join(lines[:at[0]] + lines[at[0] + len(block):])
            change.action, change.detail = "fixed", "resolved by another fix at this site"
            resolved -= 1
    result.ported = code


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


def _chain(first: Callable, second: Callable) -> Callable:
    return lambda node: second(first(node))


def _safe_edit(edit, site, rule, fix, stmt, change, mark):
    def run(node):
        try:
            return edit(node)
        except CannotFix as exc:
            change.action, change.detail = "marked", str(exc)
            mark(stmt, rule, fix, str(exc))
            return node

    return run
