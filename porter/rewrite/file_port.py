"""Porting one file: lint it, apply each finding's fix for the target, mark what cannot be fixed.

The lint engine finds the sites (one source of truth for matching); libcst rewrites them, so
formatting and comments survive. Markers are comments above the statement:
`# porter: NRN401 <what to do>`; a marker already present is never added again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import libcst as cst

from porter.rewrite.guards import (
    EXTENSION_RULE,
    _extension_imports,
    _guard_build,
    _guard_import,
    _insert_missing_helper,
)
from porter.rewrite.helpers import (
    DEVICE_HELPER,
    EXTRA_HELPERS,
    device_helper_source,
    extra_helper_source,
)
from porter.rewrite.markers import _existing_markers
from porter.rewrite.nodes import settle_removed
from porter.rewrite.parsing import parse_module, parse_statement
from porter.rewrite.placement import (
    _insert_helpers,
    _torch_alias,
    _torch_anywhere,
    finish_imports,
)
from porter.rewrite.positions import Positions
from porter.rewrite.results import FilePort
from porter.rewrite.settle import _settle_resolved
from porter.rewrite.site_plan import SitePlan
from porter.rewrite.sites import SiteIndex
from porter.rewrite.swaps import SwapPlan
from porter.rewrite.transforms import (
    FileContext,
)
from porter.source.catalogue import Catalogue
from porter.source.engine import RuleIndex, analyse_source
from porter.source.findings import Finding

UNSAFE_NOT_APPLIED = "unsafe fix; --unsafe-fixes applies it"
# libcst parses the file into a tree whose code is not the file's text (a known case: a module ending
# in a blank line and an indented comment loses the blank line).
NOT_REPRODUCED = "not ported: porter's rewriter (libcst) does not reproduce this file's text exactly"
# A cut file (porter.rewrite.narrow) whose default indent or line break is not the whole file's: the
# lines a fix adds would differ, so the whole file is ported instead.
OTHER_LAYOUT = "not ported through its cut: the cut's default indent or line break is not the file's"
# The lines a cut file fixed as text name torch otherwise than the port of the cut would.
OTHER_NAME = "not ported through its cut: the lines fixed as text name torch otherwise than the file"


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
        if isinstance(updated, (cst.Module, cst.IndentedBlock)):
            updated = settle_removed(updated)
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


def _replaced_body(new: cst.SimpleStatementLine) -> Callable:
    return lambda node: node.with_changes(body=new.body)


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
    layout: tuple[str, str] | None = None,
    seed: FileContext | None = None,
    left_to_do: Counter[str] | None = None,
    relisted: dict[int, str] | None = None,
) -> FilePort:
    """Port one file. `extension_modules` are the compiled extensions the project declares
    (extensions.discover_extension_modules): their imports are guarded and marked as NRN408.
    `line_length`: the project's configured line length (linelength.py); markers wrap to it.
    `findings`: the file's lint findings when the caller has them (porter.rewrite.narrow);
    `whole_text`: for a cut file, the whole ported file from the ported cut (lint reads it whole);
    `layout`: for a cut file, the whole file's default indent and line break, which the cut must have;
    `seed`: for a cut file, what the fixes made as text outside the cut need of the file (the device
    helper, imports; porter.rewrite.text_fixes and line_port), with the torch name they wrote;
    `left_to_do`: the sites those left to do, by rule (porter.rewrite.settle); `relisted`: line →
    the text its placeholder statement has once ported (what the lines fixed as text read)."""
    index = index.for_target(target)
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
    if not findings and not extension_modules and seed is None:
        return result
    module = parse_module(source)
    if layout is not None and layout != (module.default_indent, module.default_newline):
        result.error = OTHER_LAYOUT
        return result
    positions = Positions(module)
    if positions.code != source:  # libcst would rewrite text no fix touched: nothing of it is written
        result.error = NOT_REPRODUCED
        return result
    parents = positions.parents
    sites = SiteIndex(positions, findings)
    ctx = FileContext(torch_alias=_torch_alias(module) or _torch_anywhere(module) or "torch")
    if seed is not None:
        if seed.torch_alias != ctx.torch_alias:
            result.error = OTHER_NAME
            return result
        ctx.needs_device_helper, ctx.uses_torch = seed.needs_device_helper, seed.uses_torch
        ctx.extra_helpers, ctx.imports = set(seed.extra_helpers), set(seed.imports)
    plan = SitePlan(catalogue, target, unsafe_fixes, line_length, positions, parents, sites, ctx, result)
    for finding in findings:
        plan.add(finding)
    edits, markers, guards, builds, mark = plan.edits, plan.markers, plan.guards, plan.builds, plan.mark
    if relisted:
        placeholders = {positions[node].start.line: node for *_, node in sites.statements
                        if isinstance(node, cst.SimpleStatementLine) and positions[node].start.line in relisted}
        for line, text in relisted.items():
            edits[placeholders[line]] = _replaced_body(parse_statement(text))

    if extension_modules:
        _extension_imports(path, target, extension_modules, catalogue, positions, parents, result, guards, mark)
    splits = plan.swaps.resolve(mark)
    new_module = module.visit(_Rewriter(edits, markers, guards, splits, builds, parents))
    SwapPlan.finish(plan.swaps.sites)
    helpers: list[tuple[str, str]] = []
    if ctx.needs_device_helper:
        helpers.append((DEVICE_HELPER, device_helper_source(target, ctx.torch_alias)))
    helpers += [(name, extra_helper_source(name, ctx.torch_alias)) for name in EXTRA_HELPERS
                if name in ctx.extra_helpers]
    new_module = _insert_helpers(new_module, helpers, ctx.torch_alias)
    if guards or builds:
        new_module = _insert_missing_helper(new_module)
    needed = sorted(ctx.imports) + (["torch"] if ctx.uses_torch and _torch_anywhere(new_module) is None else [])
    try:
        new_module, code = finish_imports(new_module, needed, source, positions, whole_text)
    except SyntaxError as exc:  # never write a file that does not parse
        # at CPython's nesting limit a fix that adds a call level cannot be written: a limit, not a bug
        why = "the fixes would nest deeper than Python allows" if "too many nested" in (exc.msg or "") \
            else "internal error: the ported file would not parse"
        result.error = f"{why} ({exc.msg}, line {exc.lineno})"
        result.changes = []  # nothing of it is written: no site counts as fixed
        plan.edits.clear()
        return result
    result.ported = code
    _settle_resolved(result, findings, sites, parents, edits, index, path, markers, whole_text, left_to_do)
    # The edits call the plan back (`mark`): a cycle that would keep the libcst trees for the
    # collector to find (it then walks all of them); emptied, they are freed on return.
    plan.edits.clear()
    return result
