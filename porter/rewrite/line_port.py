"""One-line statements ported apart from their file, once per distinct text.

Most sites in CUDA code sit in short statements of their own: `torch.cuda.synchronize()`,
`z = torch.zeros(3, device="cuda")`, `with torch.cuda.amp.autocast():`. When every fix such a
statement's sites take is made from the statement alone (the transforms in LOCAL_TRANSFORMS, and
markers), libcst need not parse the file around it: the statement, or the one-line header of an
if / with / for / while, is ported in a small module of such lines, each distinct text (with its
findings) once, at its own indent, so new blocks, markers and their wrapping come out as in the file.
The cut (porter.rewrite.narrow) then leaves these lines out of the file's port like lines with no
site, and writes their ported text in.

A site left to do inside a rewritten node is where a whole-file port analyses its output again
(porter.rewrite.settle): a line with one is kept only if lint, run on the line after the file's
imports, finds what it finds there in the file, and after the port exactly the sites left to do.
Fixes that read outside their statement (imports, guards, swaps, removals that may leave a block
empty) and files porter marked before are never ported here.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate

import libcst as cst

from porter.rewrite.file_port import _Rewriter
from porter.rewrite.guard_tests import availability_blocks, guard_names, line_under_guard
from porter.rewrite.guards import EXTENSION_RULE
from porter.rewrite.parsing import parse_module
from porter.rewrite.positions import Positions, generate
from porter.rewrite.results import Change, FilePort
from porter.rewrite.settle import _inside_edit
from porter.rewrite.site_plan import SitePlan
from porter.rewrite.sites import SiteIndex
from porter.rewrite.transforms import FileContext
from porter.source.astwalk import statements
from porter.source.catalogue import Catalogue
from porter.source.engine import RuleIndex, analyse_source
from porter.source.findings import Finding

# Fixes whose edit is made from the site's own statement (porter.rewrite.site_plan._apply_fix).
LOCAL_TRANSFORMS = frozenset({"device", "device-type", "autocast", "rename", "replace", "value", "keywords",
                              "guarded-call", "statement"})
_HEADERS = {ast.If: "if", ast.While: "while", ast.For: "for", ast.AsyncFor: "async", ast.With: "with",
            ast.AsyncWith: "async"}
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Try, ast.Match, *_HEADERS)
_HEADER_CLASSES = tuple(_HEADERS)
_MARKED = re.compile(r"#\s*porter:")
_HEADER_END = re.compile(r"[ \t)]*:[ \t]*(#.*)?\r?\n")
_LEFT_TO_DO = ("unsafe-skipped", "marked")
# Ends each line's block in the small module (a statement of its own, which no fix touches).
_GROUP_END = "__porter_line_end__ = 0"


@dataclass
class LinePorts:
    """The file's lines ported apart: by line number, the ported text and the report's entries."""

    text: dict[int, str] = field(default_factory=dict)
    changes: dict[int, list[Change]] = field(default_factory=dict)
    findings: dict[int, list[Finding]] = field(default_factory=dict)
    # the names and attribute chains the ported text reads (the cut's placeholders list them)
    reads: dict[int, list[ast.AST]] = field(default_factory=dict)
    # rules with a site left to do inside a rewritten node on this line (see porter.rewrite.narrow)
    settled: dict[int, set[str]] = field(default_factory=dict)
    ctx: FileContext = field(default_factory=FileContext)


@dataclass
class _Line:
    number: int
    text: str
    header: bool
    findings: list[Finding]
    test: str = "True"  # the test of the `if` the line is ported under: its guard's, where one says it


def port_lines(source: str, lines: list[str], tree: ast.Module, findings: list[Finding], catalogue: Catalogue,
               target: str, unsafe_fixes: bool, line_length: int | None, layout: tuple[str, str],
               index: RuleIndex, path: str, skip: set[int] = frozenset()) -> LinePorts | None:
    """The lines of `source` (split in `lines`, keeping their breaks) that can be ported apart, ported;
    None when none can. `layout`: the file's default indent and line break; `skip`: lines left alone."""
    if _MARKED.search(source):
        return None  # markers of an earlier port are read from the lines above a statement
    by_line: dict[int, list[Finding]] = {}
    for f in findings:
        if not f.suppressed:
            by_line.setdefault(f.line, []).append(f)
    candidates: dict[tuple, list[_Line]] = {}
    local: dict[tuple[str, bool], bool] = {}  # _local's answers, by rule and whether the site is manual
    guard_of: dict[str, str | None] = {}  # _guards' answers, by rule
    covered: bytearray | None = None
    alias = torch_name(tree) or "torch"
    for stmt in statements(tree):
        if stmt.lineno not in by_line or stmt.lineno in skip:
            continue
        line = _candidate(stmt, lines, by_line[stmt.lineno], catalogue, target, unsafe_fixes, local)
        guards = _guards(line.findings, catalogue, target, guard_of) if line is not None else ()
        if guards:
            # its guard may be said by an `if` around it (porter.rewrite.guard_tests): then the line is
            # ported under that guard's `if`, so the port sees it there
            if covered is None:  # the lines of those `if` bodies, each marked once
                covered = bytearray(len(lines) + 2)
                for start, end in availability_blocks(tree):
                    covered[start:end + 1] = b"\1" * (end - start + 1)
            if covered[line.number]:
                if len(guards) > 1:
                    line = None
                elif line_under_guard(tree, line.number, guard_names(catalogue, target, guards[0]), alias):
                    line.test = guards[0].format(torch=alias)
        if line is not None:
            key = (line.text, line.header, line.test, tuple([(f.rule_id, f.col, f.end_col, f.message, f.matched,
                                                              f.manual, f.marked) for f in line.findings]))
            candidates.setdefault(key, []).append(line)
    if not candidates:
        return None
    groups = list(candidates.values())
    ported = _port(groups, catalogue, target, unsafe_fixes, line_length, layout, alias)
    if ported is None:
        return None
    texts, changes, inside, ctx = ported
    probed = [i for i, rules in enumerate(inside) if rules]
    kept = _probe([groups[i][0] for i in probed], [texts[i] for i in probed], [changes[i] for i in probed],
                  tree, lines, layout, index, path)
    kept = {probed[j] for j in kept}
    taken = [i for i in range(len(groups)) if not inside[i] or i in kept]
    all_reads = dict(zip(taken, _reads([texts[i] for i in taken], [groups[i][0].header for i in taken]),
                         strict=True))
    result = LinePorts(ctx=ctx)
    for i in taken:
        occurrences, reads = groups[i], all_reads[i]
        if reads is None:
            continue
        for line in occurrences:
            result.text[line.number] = texts[i]
            result.changes[line.number] = [_on_line(c, line.number) for c in changes[i]]
            result.findings[line.number] = line.findings
            result.reads[line.number] = reads
            if inside[i]:
                result.settled[line.number] = inside[i]
    return result if result.text else None


def lines_apart(source: str, lines: list[str], findings: list[Finding], tree: ast.Module | None, soft: list[Finding],
                 catalogue: Catalogue, target: str, unsafe_fixes: bool, line_length: int | None,
                 layout: tuple[str, str], index: RuleIndex, path: str) -> LinePorts | None:
    """The one-line statements ported apart (porter.rewrite.line_port), but lines whose sites are all
    `.cuda()` fixed as text."""
    if tree is None or not findings:
        return None
    counted: Counter[int] = Counter(f.line for f in findings if not f.suppressed)
    soft_lines = Counter(f.line for f in soft)
    skip = {line for line, n in soft_lines.items() if counted[line] == n}
    if len(skip) == len(counted):
        return None  # every site is a `.cuda()` fixed as text
    return port_lines(source, lines, tree, findings, catalogue, target, unsafe_fixes,
                      line_length, layout, index, path, skip)


def _on_line(change: Change, number: int) -> Change:
    """The change, on line `number` (`dataclasses.replace` costs ten times this on a dense file)."""
    moved = Change.__new__(Change)
    moved.__dict__.update(change.__dict__)
    moved.line = number
    return moved


def torch_name(tree: ast.Module) -> str | None:
    """The file's name for torch, as the port finds it (porter.rewrite.placement): a top-level
    `import torch [as T]`, else the first one anywhere."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "torch":
                    return alias.asname or "torch"
    for node in sorted((n for n in statements(tree) if isinstance(n, ast.Import)),
                       key=lambda n: (n.lineno, n.col_offset)):
        for alias in node.names:
            if alias.name == "torch":
                return alias.asname or "torch"
    return None


def _candidate(stmt: ast.stmt, lines: list[str], found: list[Finding], catalogue: Catalogue, target: str,
               unsafe_fixes: bool, local: dict[tuple[str, bool], bool]) -> _Line | None:
    text = lines[stmt.lineno - 1]
    if not text.endswith("\n"):
        return None
    for f in found:
        if f.end_line != f.line:
            return None
    if isinstance(stmt, (ast.Import, ast.ImportFrom)) or getattr(stmt, "decorator_list", None):
        return None
    header = isinstance(stmt, _HEADER_CLASSES)
    if header:
        if not _one_line_header(stmt, text):
            return None
        end = stmt.lineno  # the findings on the header line are the header's
    elif isinstance(stmt, _COMPOUND):
        return None
    else:
        if stmt.end_lineno != stmt.lineno or not _fills_line(stmt, text):
            return None
        end = stmt.lineno
    for f in found:
        known = local.get((f.rule_id, bool(f.manual)))
        if known is None:
            known = local[(f.rule_id, bool(f.manual))] = _local(f, catalogue, target, unsafe_fixes)
        if not known or not stmt.lineno <= f.line <= end:
            return None
    if not text[: len(text) - len(text.lstrip(" \t"))] and _has_statement_fix(found, catalogue, target):
        return None  # at the top level a fix that writes several statements would change the module's length
    return _Line(stmt.lineno, text, header, found)


def _guards(found: list[Finding], catalogue: Catalogue, target: str,
            guard_of: dict[str, str | None]) -> tuple[str, ...]:
    """The guards (templates) of the guarded calls the line's fixes write. `guard_of`: each rule's
    guard (None: its fix is no guarded call), filled in as rules are met."""
    guards: set[str] = set()
    for f in found:
        if f.rule_id not in guard_of:
            rule = catalogue.get(f.rule_id)
            fix = rule.fix_for(target) if rule is not None else None
            guard_of[f.rule_id] = fix.guard if fix is not None and fix.transform == "guarded-call" else None
        guard = guard_of[f.rule_id]
        if guard is not None:
            guards.add(guard)
    return tuple(sorted(guards))


def _fills_line(stmt: ast.stmt, text: str) -> bool:
    """Is the statement alone on its line (a comment aside)? ast columns count UTF-8 bytes."""
    raw = text.encode("utf-8")
    after = raw[stmt.end_col_offset:].strip()
    return not raw[: stmt.col_offset].strip() and (not after or after.startswith(b"#"))


def _one_line_header(stmt: ast.stmt, text: str) -> bool:
    """Is the statement's header on its line alone, its block starting on a later line (not `if x: y`,
    nor an `elif`, whose `if` node is the `else` of another)?"""
    if stmt.body[0].lineno <= stmt.lineno or not text.lstrip(" \t").startswith(_HEADERS[type(stmt)]):
        return False
    if isinstance(stmt, (ast.If, ast.While)):
        parts = [stmt.test]
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        parts = [stmt.target, stmt.iter]
    else:
        parts = [item.optional_vars or item.context_expr for item in stmt.items]
    last = max(parts, key=lambda p: (p.end_lineno, p.end_col_offset))
    if last.end_lineno != stmt.lineno or any(p.lineno != stmt.lineno for p in parts):
        return False
    rest = text.encode("utf-8")[last.end_col_offset:].decode("utf-8", "replace")
    return _HEADER_END.fullmatch(rest) is not None


def _local(f: Finding, catalogue: Catalogue, target: str, unsafe_fixes: bool) -> bool:
    """Is what the port does at this site made from its own statement alone?"""
    if f.rule_id.startswith("NRN0") or f.rule_id == EXTENSION_RULE:
        return False
    rule = catalogue.get(f.rule_id)
    if rule is None:
        return True
    fix = rule.fix_for(target)
    if fix.transform in ("swap-import", "guard-import", "remove"):
        return False
    if fix.applicability == "none" or (fix.applicability == "unsafe" and not unsafe_fixes):
        return True
    if fix.applicability == "manual" or not fix.transform or f.manual:
        return True
    return fix.transform in LOCAL_TRANSFORMS


def _has_statement_fix(found: list[Finding], catalogue: Catalogue, target: str) -> bool:
    rules = [catalogue.get(f.rule_id) for f in found]
    return any(rule is not None and rule.fix_for(target).transform == "statement" for rule in rules)


def _block(line: _Line, layout: tuple[str, str]) -> tuple[str, bool]:
    """The line as the small module holds it: under `if True:` (or its guard's `if`) when indented
    (its own indent kept), with a `pass` block under a header; and whether it was wrapped."""
    indent = line.text[: len(line.text) - len(line.text.lstrip(" \t"))]
    body = line.text + (indent + layout[0] + "pass" + layout[1] if line.header else "")
    return (f"if {line.test}:" + layout[1] + body, True) if indent else (body, False)


def _port(groups: list[list[_Line]], catalogue: Catalogue, target: str, unsafe_fixes: bool,
          line_length: int | None, layout: tuple[str, str], alias: str):
    """Each distinct line ported in one small module: (texts, changes, rules settled per line, context)."""
    # libcst takes the module's default indent and line break from its first block and line: the
    # file's, for the blocks a fix writes
    parts = [f"if True:{layout[1]}{layout[0]}pass{layout[1]}"]
    starts: list[int] = []
    wrapped: list[bool] = []
    moved: list[Finding] = []
    number = 3
    for group in groups:
        block, wrap = _block(group[0], layout)
        line = number + wrap
        starts.append(line)
        wrapped.append(wrap)
        moved += [f.at_lines(line, line) for f in group[0].findings]
        parts.append(block + _GROUP_END + layout[1])  # each line's text is cut out at its end marker
        number += block.count("\n") + 1
    code = "".join(parts)
    try:
        module = parse_module(code)
    except cst.ParserSyntaxError:
        return None
    positions = Positions(module)
    if positions.code != code or (module.default_indent, module.default_newline) != layout:
        return None
    parents = positions.parents
    sites = SiteIndex(positions, moved)
    ctx = FileContext(torch_alias=alias)
    report = FilePort("", code, code)
    plan = SitePlan(catalogue, target, unsafe_fixes, line_length, positions, parents, sites, ctx, report)
    try:
        for f in moved:
            plan.add(f)
        if plan.guards or plan.builds or plan.swaps.resolve(plan.mark):
            return None
        ported = generate(module.visit(_Rewriter(plan.edits, plan.markers, {}, {}, {}, parents)), positions)
        at_line = {start: i for i, start in enumerate(starts)}
        changes: list[list[Change]] = [[] for _ in groups]
        where = {(f.rule_id, f.line, f.col): f for f in moved}
        inside: list[set[str]] = [set() for _ in groups]
        for change in report.changes:
            i = at_line[change.line]
            changes[i].append(change)
            if change.action in _LEFT_TO_DO:
                finding = where.get((change.rule_id, change.line, change.col))
                site = sites.locate(finding) if finding is not None else None
                if _inside_edit(site, parents, plan.edits):
                    inside[i].add(change.rule_id)
        pieces = ported.split(layout[1], 2)[2].split(_GROUP_END + layout[1])  # after the first block
        if len(pieces) != len(groups) + 1 or pieces[-1]:
            return None
        texts = []
        for text, wrap, group in zip(pieces, wrapped, groups, strict=False):
            if wrap:
                text = text.split(layout[1], 1)[1] if layout[1] in text else ""
            if group[0].header:
                text = text[: text.rstrip("\r\n").rfind("\n") + 1]
            texts.append(text)
        return texts, changes, inside, ctx
    finally:  # its edits call it back (`mark`): a cycle that would keep the trees for the collector
        plan.edits.clear()


def _probe(lines: list[_Line], texts: list[str], changes: list[list[Change]], tree: ast.Module,
           source_lines: list[str], layout: tuple[str, str], index: RuleIndex, path: str) -> set[int]:
    """Of these lines (each with a site left to do inside a rewritten node), the indexes of those whose
    findings lint, run on the line after the file's imports, gives as in the file, and after the port
    exactly the sites left to do."""
    if not lines:
        return set()
    prelude = "".join("".join(source_lines[s.lineno - 1: s.end_lineno]) for s in tree.body
                      if isinstance(s, (ast.Import, ast.ImportFrom)))
    before = _probe_findings([line.text for line in lines], lines, prelude, layout, index, path)
    after = _probe_findings(texts, lines, prelude, layout, index, path)
    if before is None or after is None:
        return set()
    kept = set()
    for i, (line, done, found, left) in enumerate(zip(lines, changes, before, after, strict=True)):
        own = sorted((f.rule_id, f.col, f.end_col, f.matched, f.manual) for f in line.findings)
        seen = sorted((f.rule_id, f.col, f.end_col, f.matched, f.manual) for f in found)
        if own == seen and all(f.end_line == f.line for f in found) and \
                Counter(f.rule_id for f in left) == Counter(c.rule_id for c in done if c.action != "fixed"):
            kept.add(i)
    return kept


def _probe_findings(texts: list[str], lines: list[_Line], prelude: str, layout: tuple[str, str],
                    index: RuleIndex, path: str) -> list[list[Finding]] | None:
    """Lint's findings in each text, each put after the prelude in a function of its own (at the top
    level when it is not indented), a header given a `pass` block."""
    parts, ranges = [prelude], []
    number = prelude.count("\n") + 1  # the line the next part starts on
    for text, line in zip(texts, lines, strict=True):
        indent = line.text[: len(line.text) - len(line.text.lstrip(" \t"))]
        # `probe`, not `_porter_...`: lint passes over porter's own helpers
        head = "def probe():" + layout[1] if indent else ""
        start = number + bool(head)
        ranges.append((start, start + text.count("\n")))
        part = head + text + (indent + layout[0] + "pass" + layout[1] if line.header else "")
        parts.append(part)
        number += part.count("\n")
    found = analyse_source("".join(parts), path, index)
    if any(f.rule_id.startswith("NRN0") for f in found):
        return None
    out: list[list[Finding]] = [[] for _ in texts]
    for f in found:
        if f.suppressed:
            continue
        for i, (start, end) in enumerate(ranges):
            if start <= f.line < end:
                out[i].append(f)
                break
    return out


def _reads(texts: list[str], headers: list[bool]) -> list[list[ast.AST] | None]:
    """The Name and Attribute nodes of each ported text (None for one that does not parse), the
    texts parsed together (one after another, each a block of its own)."""
    chunks = []
    for text, header in zip(texts, headers, strict=True):
        last = text.rstrip("\r\n").rsplit("\n", 1)[-1]
        body = text + (last[: len(last) - len(last.lstrip(" \t"))] + "    pass\n" if header else "")
        chunks.append("if True:\n" + body if body[:1] in (" ", "\t") else body)
    starts = list(accumulate((chunk.count("\n") for chunk in chunks), initial=1))[:-1]
    try:
        tree = ast.parse("".join(chunks))
    except (SyntaxError, ValueError):
        return [_reads([text], [header])[0] for text, header in zip(texts, headers, strict=True)] \
            if len(texts) > 1 else [None]
    found: list[list[ast.AST]] = [[] for _ in texts]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)):
            found[bisect_right(starts, node.lineno) - 1].append(node)
    return found
