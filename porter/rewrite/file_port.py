"""Porting one file: lint it, apply each finding's fix for the target, mark what cannot be fixed.

The lint engine finds the sites (one source of truth for matching); libcst rewrites them, so
formatting and comments survive. Markers are comments above the statement:
`# porter: NRN401 <what to do>`; a marker already present is never added again.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from porter.rewrite.guards import (
    EXTENSION_RULE,
    _compiled_module,
    _extension_imports,
    _guard_build,
    _guard_import,
    _in_import_guard,
    _insert_missing_helper,
    _inside_import,
    _is_import,
    _jit_build,
    _runs_at_import,
)
from porter.rewrite.helpers import (
    DEVICE_HELPER,
    EXTRA_HELPERS,
    device_helper_source,
    extra_helper_source,
)
from porter.rewrite.imports import drop_unused_imports
from porter.rewrite.linelength import wrap_marker
from porter.rewrite.markers import _existing_markers, _marker_text, _markers_above
from porter.rewrite.nodes import _call_of, _inside, _method_call, _statement_of, parent_map
from porter.rewrite.placement import (
    _insert_helpers,
    _torch_alias,
    _torch_anywhere,
)
from porter.rewrite.requote import _fstring_quote, _requoting
from porter.rewrite.results import Change, FilePort
from porter.rewrite.settle import _settle_resolved
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
from porter.source.catalogue import Catalogue, Fix, Rule
from porter.source.engine import RuleIndex, analyse_source
from porter.source.findings import Finding

UNSAFE_NOT_APPLIED = "unsafe fix; --unsafe-fixes applies it"


class _Rewriter(cst.CSTTransformer):
    def __init__(self, edits: dict, markers: dict, guards: dict, splits: dict | None = None,
                 builds: dict | None = None, parents: dict | None = None) -> None:
        super().__init__()
        self.edits = edits
        self.markers = markers
        self.guards = guards
        self.splits = splits or {}
        self.builds = builds or {}
        # Only the nodes that change and their ancestors are walked: the rest of the tree is kept
        # as it is (a full walk of a big file was most of the rewrite's time).
        self.on_path: set | None = None
        if parents is not None:
            self.on_path = set()
            for node in (*self.edits, *self.markers, *self.guards, *self.splits, *self.builds):
                while node is not None and node not in self.on_path:
                    self.on_path.add(node)
                    node = parents.get(node)

    def on_visit(self, node) -> bool:
        if self.on_path is not None and node not in self.on_path:
            return False
        return super().on_visit(node)

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
    whole_text: Callable[[str], str | None] | None = None,
) -> FilePort:
    """Port one file. `extension_modules` are the compiled extensions the project declares
    (extensions.discover_extension_modules): their imports are guarded and marked as NRN408.
    `line_length`: the project's configured line length (linelength.py); markers wrap to it.
    `findings`: the file's lint findings when the caller has them (porter.rewrite.narrow);
    `whole_text`: for a cut file, the whole ported file from the ported cut (lint reads it whole)."""
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
    positions = wrapper.resolve(PositionProvider)
    parents = parent_map(wrapper.module)
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
    new_module = wrapper.module.visit(_Rewriter(edits, markers, guards, splits, builds, parents))
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
    _settle_resolved(result, findings, sites, parents, edits, index, path, markers, whole_text)
    return result


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
