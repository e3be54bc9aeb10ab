"""Planning one file's port: what each lint finding asks of the rewrite.

For each finding: the edit of its site (a function from the node to its replacement), or a marker
above its statement saying what is left to do, or an import or JIT build to guard. The rewrite
itself (porter.rewrite.file_port) applies the plan in one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from porter.rewrite.guard_tests import guard_names, under_guard
from porter.rewrite.guards import (
    EXTENSION_RULE,
    _compiled_module,
    _in_import_guard,
    _inside_import,
    _is_import,
    _jit_build,
    _runs_at_import,
)
from porter.rewrite.keyword_edits import keywords_transform, own_values
from porter.rewrite.linelength import wrap_marker
from porter.rewrite.markers import _marker_text, _markers_above
from porter.rewrite.nodes import _call_of, _inside, _method_call, _stands_alone, _statement_of
from porter.rewrite.requote import _fstring_quote, _requoting
from porter.rewrite.results import Change, FilePort
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
    last_name,
    remove_statement,
    rename_transform,
    replace_transform,
    statement_transform,
    value_transform,
)
from porter.source.catalogue import Catalogue, Fix, Rule
from porter.source.findings import Finding

UNSAFE_NOT_APPLIED = "unsafe fix; --unsafe-fixes applies it"


class SitePlan:
    """The edits, markers and guards one file's findings ask for, collected site by site."""

    def __init__(self, catalogue: Catalogue, target: str, unsafe_fixes: bool, line_length: int | None,
                 positions, parents: dict, sites: SiteIndex, ctx: FileContext, result: FilePort) -> None:
        self.catalogue, self.target, self.unsafe_fixes, self.line_length = catalogue, target, unsafe_fixes, line_length
        self.positions, self.parents, self.sites, self.ctx, self.result = positions, parents, sites, ctx, result
        self.edits: dict[cst.CSTNode, Callable] = {}
        self.markers: dict[cst.CSTNode, list[tuple[str, str]]] = {}
        self.guards: dict[cst.CSTNode, str] = {}
        self.builds: dict[cst.CSTNode, tuple[list[str], str]] = {}
        # One marker per rule and statement: the names and reasons of its sites there are merged into it.
        self.marked: dict[tuple[cst.CSTNode, str], tuple[list[str], list[str]]] = {}
        self.swaps = SwapPlan(catalogue, parents)

    def mark(self, stmt, rule, fix, reason="", site_only=False, name=""):
        parents, marked, markers = self.parents, self.marked, self.markers
        line_length, positions = self.line_length, self.positions
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

    def add(self, finding: Finding) -> None:
        """Plan one finding's site: an edit, a marker, or a guard."""
        catalogue, target, sites, parents, ctx, mark = (
            self.catalogue, self.target, self.sites, self.parents, self.ctx, self.mark)
        edits, guards, builds, plan, result = self.edits, self.guards, self.builds, self.swaps, self.result
        unsafe_fixes = self.unsafe_fixes
        rule = catalogue.get(finding.rule_id)
        if rule is None:
            return
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
            return
        if fix.applicability == "none":
            return
        if fix.applicability == "unsafe" and not unsafe_fixes:
            # Left to do like any marked site: the reader of the ported file sees it there.
            change.action = "unsafe-skipped"
            mark(stmt, rule, fix, UNSAFE_NOT_APPLIED, name=finding.matched)
            return
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
                return
            if _compiled_module(rule, finding.matched) and _is_import(stmt) and _inside_import(node, parents):
                # a catalogued extension module another package builds (rules/kernels.toml, NRN408):
                # guarded like the project's own, so the file imports without it
                if not _in_import_guard(stmt, parents) and _runs_at_import(stmt, parents):
                    guards.setdefault(stmt, EXTENSION_RULE)
                mark(stmt, rule, fix, f"{finding.matched} is a compiled CUDA extension, absent on the target")
                return
            mark(stmt, rule, fix, name=finding.matched)
            return
        if fix.transform == "swap-import":
            return  # settled below, once every import of the file is known (porter.rewrite.swaps)
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
            return
        if finding.manual:  # the engine saw why this site cannot take the fix
            change.action, change.detail = "marked", finding.manual
            mark(stmt, rule, fix, finding.manual, site_only=True)
            return
        try:
            guarded = guard_names(self.catalogue, self.target, fix.guard) if fix.transform == "guarded-call" \
                else frozenset()
            site, edit = _apply_fix(rule, fix, node, parents, _site_context(ctx, node, finding.matched), guarded)
        except CannotFix as exc:
            change.action, change.detail = "marked", str(exc)
            mark(stmt, rule, fix, str(exc))
            return
        quote = _fstring_quote(site, parents)
        if quote:
            edit = _requoting(edit, quote)
        # Several fixes may rewrite one node (`.cuda(non_blocking=True)`): they run in turn.
        previous = edits.get(site)
        current = _safe_edit(edit, site, rule, fix, stmt, change, mark)
        edits[site] = current if previous is None else _chain(previous, current)
        change.action = "fixed"



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


def _apply_fix(rule: Rule, fix: Fix, node: cst.CSTNode, parents: dict, ctx: FileContext,
               guarded: frozenset[str] = frozenset()) -> Callable | None:
    """The edit for one site: a function from the (possibly already rewritten) node to its replacement.
    `guarded`: for a guarded call, the tests that say its guard (porter.rewrite.guard_tests)."""
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
            if isinstance(target, cst.Call) and last_name(target.func) == "startswith":
                break  # `device.startswith("cuda")`: a comparison spelled as a call
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
        # the template's own parentheses (`(...)`) are dropped where the site stands alone
        alone = _stands_alone(target, parents)
        return target, lambda n: rename_transform(n, ctx, fix.to, alone)
    if kind == "replace":
        # A callee's call is replaced; a value passed to a call (`f(x.is_cuda)`) is replaced alone.
        target = _method_call(node, parents)
        call = parents.get(target)
        if isinstance(call, cst.Call) and call.func is target:
            target = call
        alone = _stands_alone(target, parents)
        return target, lambda n: replace_transform(n, ctx, fix.to, alone)
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
        guard = "" if guarded and under_guard(target, parents, guarded, ctx.torch_alias) else fix.guard
        if isinstance(expr_stmt, cst.Expr) and isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
            # A call made for its effect becomes `if <guard>: <call>`.
            return line, lambda n: guarded_statement(n, ctx, fix.to, guard)
        return target, lambda n: guarded_call(n, ctx, fix.to, guard, fix.default)
    raise CannotFix(f"unknown transform {kind!r}")


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
