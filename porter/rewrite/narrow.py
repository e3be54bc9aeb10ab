"""Porting a file through libcst only where a fix can touch it.

libcst's parse, metadata and code generation cost time in proportion to the whole file, while the
sites a port rewrites are usually a few statements of it (`torch/_inductor/ir.py`: 400 KB, six
sites). So the file is cut: a statement holding none of the file's lint findings (a run of
neighbouring ones together) is replaced by a one-line placeholder for the port, then spliced back
verbatim; a statement holding one is kept, and the blocks it opens (a class's members, a
function's body, the branches of an if, try, loop, with or match) are cut in turn. Inside a long
statement that holds a site, the elements of its literals and the arguments of its calls that hold
none are cut the same way (`op_db = [OpInfo(...), ...]`), except the arguments of a call a fix may
read (a site starts on its callee's or an argument's line). The placeholders:

    __porter_keep_12__ = (np, torch.float32, helper)      a statement
    __porter_keep_13__(np, torch),                        an element or argument
    __porter_keep_14__: (torch,),                         a dict entry
    __porter_keep_15__=(torch,),                          a keyword argument

A placeholder names the imported names and attribute chains its unit reads, so the port's check
for imports it left unused still sees them. Docstrings, `__all__`, porter's own helpers and every
import statement are kept, and so is every statement that imports when it runs (it is cut
inside instead), so the imports the port guards, adds or drops are what a whole-file port sees.
Line numbers in the port's report are mapped back to the file's. If the splice cannot be done
exactly, the whole file is ported instead.

Two kinds of sites do not keep their statement: `.cuda()` calls fixed as text
(porter.rewrite.text_fixes) and one-line statements ported apart (porter.rewrite.line_port). Their
statements are cut like statements without a site and spliced back edited; a placeholder standing
for them lists, once ported, what the edited text reads (porter.rewrite.cut_reads).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from itertools import repeat
from operator import attrgetter

from porter.rewrite.cut_reads import imports_read_apart, reads_by_unit
from porter.rewrite.file_port import FilePort, port_source
from porter.rewrite.line_port import LinePorts, lines_apart
from porter.rewrite.settle import RESOLVED
from porter.rewrite.shape_facts import CutFile
from porter.rewrite.text_fixes import apply_text_fixes, text_fix_changes, text_fixable_findings
from porter.rewrite.transforms import FileContext
from porter.source.astwalk import child_nodes
from porter.source.catalogue import Catalogue
from porter.source.engine import RuleIndex, analyse_source, gc_paused
from porter.source.findings import Finding
from porter.source.rule_index import hit_lines

# Below this size a whole-file port is cheap; above this share of kept lines the cut saves little.
MIN_BYTES = 2 * 1024
MAX_KEPT_SHARE = 0.8
# A statement's placeholder, an element's or argument's (a call), a dict entry's, a keyword argument's
# and a decorator's.
_PLACEHOLDER = re.compile(r"^[ \t]*@?__porter_keep_(\d+)__(?: = \(.*\)|\(.*\),?|: \(.*\),?|=\(.*\),?)[ \t]*$")
# A line that may import torch (a superset: a comment or string saying so only keeps more of the file).
# `\bimport` spelled with the literal first (then the boundary looked behind): re scans for a
# leading literal fast, and tries every position of the file otherwise.
_IMPORTS_TORCH = re.compile(r"import(?<=\bimport)[ \t][^\n]*\btorch\b")
# The statements that may hold statements (the others hold only expressions).
_HOLDS_STATEMENTS = (ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
                     ast.TryStar, ast.Match)
_INDENTED_LINE = re.compile(r"^[ \t\f]", re.MULTILINE)
# A statement holding a site and spanning this many lines is cut inside: the elements of its
# literals (`op_db = [OpInfo(...), ...]`) that hold no site become placeholders too.
MIN_ELEMENT_LINES = 8
# (first line, last line, the nodes it stands for, its placeholder's form)
_Cut = tuple[int, int, list[ast.AST], str]


def port_source_narrow(
    source: str,
    path: str,
    index: RuleIndex,
    catalogue: Catalogue,
    target: str,
    unsafe_fixes: bool = False,
    extension_modules: frozenset[str] = frozenset(),
    line_length: int | None = None,
) -> FilePort:
    """`port_source`, with the units no fix can touch left out of libcst's work (same result)."""
    index = index.for_target(target)
    args = (catalogue, target, unsafe_fixes, extension_modules, line_length)
    if len(source) < MIN_BYTES or any(e.rsplit(".", 1)[-1] in source for e in extension_modules):
        return port_source(source, path, index, *args)  # small, or its extension imports are the port's own search
    parsed: list = []  # lint's parse of the file, for the cut too
    findings = analyse_source(source, path, index, keep_tree=parsed)  # what lint reports for the whole file
    if not findings:
        return port_source(source, path, index, *args, findings=findings)  # nothing to port: no cut to plan
    tree = parsed[0] if parsed else None
    layout = (_first_indent(tree or _parse(source), source), _first_newline(source))
    soft = text_fixable_findings(findings, source, tree, catalogue, target)
    lines = source.splitlines(keepends=True)  # once, for the lines ported apart and the cut
    lined = lines_apart(source, lines, findings, tree, soft, catalogue, target, unsafe_fixes, line_length, layout,
                         index, path)
    if lined is not None:
        soft = [f for f in soft if f.line not in lined.text]
    plan = _plan(source, findings, tree, soft, lined, lines)
    if plan is None:
        return port_source(source, path, index, *args, findings=findings)
    skeleton, line_map, originals, fixed_as_text, applied, relisted = plan
    # The findings moved onto the skeleton's lines: each is on a kept line, and the reasons they
    # carry still name the file's own line numbers.
    to_skeleton: dict[int, int] = {}
    for number, line in enumerate(line_map, start=1):
        to_skeleton.setdefault(line, number)
    done = {id(f) for f in fixed_as_text}
    moved = [f.at_lines(to_skeleton[f.line], to_skeleton[f.end_line]) for f in findings
             if id(f) not in done]
    seed = FileContext()
    if any(f.line not in applied for f in fixed_as_text):  # `.cuda()` fixed as text calls the helper
        seed.needs_device_helper = seed.uses_torch = True
    left: Counter[str] = Counter()  # sites the lines ported apart leave to do, by rule (settle counts them)
    if applied:
        seed.needs_device_helper |= lined.ctx.needs_device_helper
        seed.uses_torch |= lined.ctx.uses_torch
        seed.extra_helpers |= lined.ctx.extra_helpers
        seed.imports |= lined.ctx.imports
        seed.torch_alias = lined.ctx.torch_alias
        left.update(c.rule_id for line in applied for c in lined.changes[line] if c.action != "fixed")
    port = port_source(skeleton, path, index, *args, findings=moved,
                       whole_text=lambda text: _splice(text, originals), layout=layout,
                       seed=seed if fixed_as_text else None, left_to_do=left, relisted=relisted)
    if port.error or not port.changed and not fixed_as_text:
        if port.error and not port.error.startswith("internal error"):
            return port_source(source, path, index, *args, findings=findings)  # the whole file speaks for itself
        result = FilePort(path, source, source, changes=port.changes, error=port.error, encoding=port.encoding)
        _map_lines(result, line_map)
        return result
    settled = {rule for line in applied for rule in lined.settled.get(line, ())}
    if settled and any(c.rule_id in settled and c.detail == RESOLVED for c in port.changes):
        # settle resolves sites in the file's order, which may be a line ported apart: the whole file decides
        return port_source(source, path, index, *args, findings=findings)
    ported = _splice(port.ported, originals)
    if ported is None:
        return port_source(source, path, index, *args, findings=findings)
    result = FilePort(path, source, ported, changes=port.changes, error=port.error, encoding=port.encoding)
    result.cut = CutFile(port.ported, skeleton, line_map, originals, tree, lines, _PLACEHOLDER,
                         {line: lined.text[line] for line in applied})
    _map_lines(result, line_map)
    if fixed_as_text:  # their entries where the whole-file port has them: in the findings' order
        # each site's first finding's place (a dict keeps the last value given: built from the end)
        order = dict(zip(map(_SITE, reversed(findings)), range(len(findings) - 1, -1, -1), strict=True))
        result.changes += text_fix_changes([f for f in fixed_as_text if f.line not in applied], catalogue, target)
        result.changes += [c for line in sorted(applied) for c in lined.changes[line]]
        ranks = list(map(order.get, map(_SITE, result.changes), repeat(len(order))))
        result.changes = [result.changes[i] for i in sorted(range(len(ranks)), key=ranks.__getitem__)]  # stable
    return result


_SITE = attrgetter("rule_id", "line", "col")  # a finding's or change's site


def _first_indent(tree: ast.Module | None, source: str) -> str:
    """The indent of the file's first indented block, which libcst takes as the module's default (new
    blocks a fix writes get it): the cut may have left that block out, so the port checks its
    skeleton has the same. The first statement in source order that starts its line indented."""
    if tree is None or not _INDENTED_LINE.search(source):
        return "    "  # (no line starts indented: no statement does)
    lines = source.splitlines()
    pending = [tree.body[::-1]]  # blocks as stacks, their first statement last: no pop(0) on a long body
    while pending:
        block = pending.pop()
        if not block:
            continue
        stmt = block.pop()
        pending.append(block)
        decorators = getattr(stmt, "decorator_list", ())
        number = min([stmt.lineno, *(d.lineno for d in decorators)])
        line = lines[number - 1].encode("utf-8")
        text = line.lstrip(b" \t\f")
        starts = text.startswith(b"@") if decorators else stmt.col_offset == len(line) - len(text)
        if starts and len(text) < len(line):
            return line[: len(line) - len(text)].decode("utf-8")
        if isinstance(stmt, ast.Match) and stmt.cases:  # its `case` lines open its block
            case = lines[stmt.cases[0].pattern.lineno - 1]
            return case[: len(case) - len(case.lstrip(" \t\f"))]
        pending.extend(b[::-1] for b in reversed(_bodies(stmt, lines)))  # the earliest block on top
    return "    "


def _first_newline(source: str) -> str:
    """The file's first line break, libcst's default for the lines a fix adds."""
    at = source.find("\n")
    return "\r\n" if at > 0 and source[at - 1] == "\r" else "\n"


def _map_lines(result: FilePort, line_map: list[int]) -> None:
    for change in result.changes:
        if 0 < change.line <= len(line_map):
            change.line = line_map[change.line - 1]


def _parse(source: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings(), gc_paused():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _plan(source: str, findings: list[Finding], tree: ast.Module | None = None, soft: list[Finding] = (),
          lined: LinePorts | None = None, lines: list[str] | None = None,
          ) -> tuple[str, list[int], dict[int, str], list[Finding], set[int], dict[int, str]] | None:
    """(skeleton, skeleton line → file line, placeholder id → the unit's original text, the findings
    fixed as text in the units cut, the lines ported apart in them, skeleton line → its placeholder
    once ported where what it reads changed), or None when cutting would not
    pay (or cannot be done safely). `tree`: the source parsed, if it was; `soft`: findings the cut may
    fix as text (porter.rewrite.text_fixes); `lined`: lines ported apart (porter.rewrite.line_port);
    `lines`: the source's lines with their breaks, when split already.
    Neither keeps its statement for libcst."""
    if not findings or any(f.rule_id.startswith("NRN0") for f in findings):
        return None  # nothing to port, or a file the whole-file port reports on
    apart = lined.text if lined is not None else {}
    soft_ids = {id(f) for f in soft}
    hit_set = {line for f in findings if id(f) not in soft_ids and f.line not in apart
               for line in range(f.line, f.end_line + 1)}
    # A lazy `import torch` (in a function, under an if) is kept like a site: whether the file imports
    # torch anywhere decides how a helper gets it (placement._torch_anywhere).
    hit_set.update(hit_lines(source, _IMPORTS_TORCH))
    tree = tree if tree is not None else _parse(source)
    if tree is None:
        return None
    lines = lines if lines is not None else source.splitlines(keepends=True)
    if apart:
        hit_set.update(imports_read_apart(tree, apart, lines))
    if len(lines) != source.count("\n") + (0 if source.endswith("\n") else 1) or "\f" in source:
        return None  # line breaks other than \n and \r\n (or form feeds): keep the cut out of it
    drops = _drops(tree.body, hit_set, lines, {f.line for f in findings})
    if drops is None:
        return None
    drops.sort(key=lambda cut: cut[0])
    drops = [_with_trailing_comments(cut, lines) for cut in drops]
    if any(a[1] >= b[0] for a, b in zip(drops, drops[1:], strict=False)):
        return None
    if sum(end - start + 1 for start, end, *_ in drops) < (1 - MAX_KEPT_SHARE) * len(lines):
        return None
    applied: set[int] = set()
    if apart:
        cut = bytearray(len(lines) + 2)
        for start, end, *_ in drops:
            cut[start:end + 1] = b"\1" * (end - start + 1)
        applied = {line for line in apart if cut[line]}
    # The port's check for imports it left unused compares what the skeleton reads before and after:
    # after, a placeholder standing for a line ported apart lists what the ported line reads.
    reads, after = reads_by_unit(tree, drops, lines, {line: lined.reads[line] for line in applied})
    relisted: dict[int, str] = {}
    skeleton: list[str] = []
    line_map: list[int] = []
    originals: dict[int, str] = {}
    line = 1
    for number, (start, end, _, form) in enumerate(drops):
        while line < start:
            skeleton.append(lines[line - 1])
            line_map.append(line)
            line += 1
        first = lines[start - 1]
        indent = first[: len(first) - len(first.lstrip(" \t"))]
        ending = "\r\n" if lines[end - 1].endswith("\r\n") else "\n"
        kind = form.rstrip(",")
        skeleton.append(f"{indent}{_placeholder(number, form, reads[number])}{ending}")
        if after[number] != reads[number]:
            if kind != "stmt":
                return None
            relisted[len(skeleton)] = _placeholder(number, form, after[number])
        line_map.append(start)
        originals[number] = "".join(lines[start - 1: end])
        if not originals[number].endswith(("\n", "\r")):
            return None  # the file's last line without a newline: a placeholder cannot stand for it
        line = end + 1
    while line <= len(lines):
        skeleton.append(lines[line - 1])
        line_map.append(line)
        line += 1
    fixed: list[Finding] = []
    by_line: dict[int, list[Finding]] = {}
    for f in soft:
        by_line.setdefault(f.line, []).append(f)
    for number, (start, end, _, _) in enumerate(drops):
        inside = [f for line in range(start, end + 1) for f in by_line.get(line, ())]
        ported = [line for line in range(start, end + 1) if line in applied]
        if not inside and not ported:
            continue
        if inside:
            originals[number] = apply_text_fixes(originals[number], start, inside)
            fixed += inside
        if ported:
            unit = originals[number].splitlines(keepends=True)
            for line in ported:
                unit[line - start] = apart[line]
                fixed += lined.findings[line]
            originals[number] = "".join(unit)
    return "".join(skeleton), line_map, originals, fixed, applied, relisted


def _placeholder(number: int, form: str, names: list[str]) -> str:
    """The placeholder of cut `number` (see the module docstring), without its indent and line break."""
    listed = f"({', '.join(names)}{',' if names else ''})"
    kind = form.rstrip(",")
    at = "@" if kind == "deco" else ""
    return f"{at}__porter_keep_{number}__" + {"stmt": " = ", "elt": "", "entry": ": ", "kw": "=", "deco": ""}[kind] \
        + listed + form[len(kind):]


def _with_trailing_comments(cut: _Cut, lines: list[str]) -> _Cut:
    """A cut statement takes the comment lines after it that are indented deeper than it (blank lines
    between them too): in the file they close its own blocks, and libcst does not give back a
    module that ends in a blank line and an indented comment (`x = 1\n\n    # c\n` loses the
    blank line) if the placeholder of a top-level statement left them behind."""
    start, end, nodes, form = cut
    if form != "stmt":
        return cut
    first = lines[start - 1]
    indent = len(first) - len(first.lstrip(" \t"))
    last, line = end, end + 1
    while line <= len(lines):
        text = lines[line - 1]
        stripped = text.lstrip(" \t")
        if stripped.strip():
            if not stripped.startswith("#") or len(text) - len(stripped) <= indent:
                break
            last = line
        line += 1
    return (start, last, nodes, form) if last != end else cut


def _drops(body: list[ast.stmt], hits: set[int], lines: list[str], starts: set[int]) -> list[_Cut] | None:
    """The statements of a body no fix can touch, as (first line, last line, nodes) in order, a run of
    neighbours as one. A
    statement holding a finding is kept, and the bodies it opens (a class's members, a function's
    statements, the branches of an if, try, with, loop or match) are looked at one by one. None
    when two statements share a line (`a = 1; b = 2`)."""
    drops: list[_Cut] = []
    previous_end = 0
    dropped_previous = False  # consecutive statements no fix touches become one placeholder
    for position, stmt in enumerate(body):
        dropped, dropped_previous = dropped_previous, False
        decorators = getattr(stmt, "decorator_list", None)
        start = min([stmt.lineno] + [d.lineno for d in decorators]) if decorators else stmt.lineno
        end = stmt.end_lineno or stmt.lineno
        if start <= previous_end:
            return None
        previous_end = end
        if position == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue  # imports the port may guard, reorder or drop
        name = getattr(stmt, "name", None)  # a definition's (a `type` alias's is a node)
        if _exports(stmt) or type(name) is str and name.lower().startswith("_porter"):
            continue  # `__all__`, and helpers an earlier port added, are read by the port
        held = start in hits if start == end else any(line in hits for line in range(start, end + 1))
        if not held and not _imports_at_load(stmt):
            first = min([stmt, *decorators], key=lambda n: n.lineno) if decorators else stmt
            # not `if x: return y` (its body shares the header's line), nor `a = 1; b = 2`
            if _alone(first, stmt, lines, lead=(b"", b"@")) is not None:
                if dropped:
                    drops[-1][2].append(stmt)  # in place: a long run of statements is no quadratic copy
                    drops[-1] = (drops[-1][0], end, drops[-1][2], "stmt")
                else:
                    drops.append((start, end, [stmt], "stmt"))
                dropped_previous = True
            continue
        # It holds a finding or an import: kept, and the blocks it opens are cut in turn.
        drops.extend(_decorator_cuts(getattr(stmt, "decorator_list", ()), hits, lines))
        if not _bodies(stmt, lines) and end - start + 1 >= MIN_ELEMENT_LINES:
            drops.extend(_element_cuts(stmt, hits, lines, starts))
        for inner_body in _bodies(stmt, lines):
            inner = _drops(inner_body, hits, lines, starts)
            if inner is None:
                return None
            drops.extend(inner)
    return drops


def _decorator_cuts(decorators: list[ast.expr], hits: set[int], lines: list[str]) -> list[_Cut]:
    """The decorators of a kept function or class that hold no site and fill their lines (`@` and a
    comment aside), neighbours merged."""
    cuts: list[_Cut] = []
    merge = False
    for decorator in decorators:
        start, end = decorator.lineno, decorator.end_lineno or decorator.lineno
        if _alone(decorator, decorator, lines, lead=(b"@",)) is None or any(
                line in hits for line in range(start, end + 1)):
            merge = False
            continue
        if merge:
            cuts[-1][2].append(decorator)
            cuts[-1] = (cuts[-1][0], end, cuts[-1][2], "deco")
        else:
            cuts.append((start, end, [decorator], "deco"))
        merge = True
    return cuts


def _element_cuts(node: ast.AST, hits: set[int], lines: list[str], starts: set[int]) -> list[_Cut]:
    """Inside a statement that is kept: the elements of its literals (list, tuple, set, dict) and
    the arguments of its calls that hold no site and fill their own lines, neighbours merged.
    Elements that hold a site are looked into in turn. A call whose callee, or one of whose
    arguments, starts on a site's first line keeps its arguments: a fix may read or rewrite them
    (`keywords`, `replace`, `torch.device(...)`)."""
    return [cut for child in child_nodes(node) for cut in _cuts_of(child, hits, lines, starts)]


def _cuts_of(node: ast.AST, hits: set[int], lines: list[str], starts: set[int]) -> list[_Cut]:
    if (getattr(node, "end_lineno", None) or 0) <= (getattr(node, "lineno", None) or 0) or \
            isinstance(node, ast.JoinedStr):
        return []  # on one line (nothing to cut), or an f-string (its parts are not statements' text)
    if isinstance(node, (ast.List, ast.Tuple, ast.Starred)) and not isinstance(node.ctx, ast.Load):
        return []  # an assignment's or loop's targets (`(a, b) = ...`): a placeholder call is no target
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        elements = [(e, e, "" if isinstance(e, ast.Starred) else "elt") for e in node.elts]
    elif isinstance(node, ast.Dict):
        elements = [(k or v, v, "entry" if k is not None else "") for k, v in zip(node.keys, node.values, strict=True)]
    elif isinstance(node, ast.Call) and _arguments_free(node, starts):
        elements = [(a, a, "" if isinstance(a, ast.Starred) else "elt") for a in node.args]
        elements += [(k, k, "kw") for k in node.keywords]
        elements.sort(key=lambda item: (item[0].lineno, item[0].col_offset))
        return _cuts_of(node.func, hits, lines, starts) + _container_cuts(elements, hits, lines, starts)
    else:
        return _element_cuts(node, hits, lines, starts)
    return _container_cuts(elements, hits, lines, starts)


def _arguments_free(call: ast.Call, starts: set[int]) -> bool:
    """May the call's arguments be cut? Not when a site starts on its callee's lines or on an
    argument's first line (a site that is a whole argument makes the call a fix's target)."""
    if any(line in starts for line in range(call.lineno, (call.func.end_lineno or call.lineno) + 1)):
        return False
    values = [*call.args, *(k.value for k in call.keywords)]
    return not any(value.lineno in starts for value in values)


def _container_cuts(elements: list[tuple[ast.AST, ast.AST, str]], hits: set[int], lines: list[str],
                    starts: set[int]) -> list[_Cut]:
    """(first node, last node, placeholder kind or "" when it may not be cut) per element, in order."""
    cuts: list[_Cut] = []
    previous: str | None = None  # the kind of the element cut just before, to merge with
    for first, last, kind in elements:
        start, end = first.lineno, last.end_lineno or last.lineno
        comma = _alone(first, last, lines, comma=True) if kind else None
        if comma is None or any(line in hits for line in range(start, end + 1)):
            for part in dict.fromkeys((first, last)):  # an element is its own first and last
                cuts += _cuts_of(part.value if isinstance(part, ast.keyword) else part, hits, lines, starts)
            previous = None
            continue
        nodes = list(dict.fromkeys((first, last)))
        form = kind + ("," if comma else "")
        if previous == kind:
            cuts[-1][2].extend(nodes)
            cuts[-1] = (cuts[-1][0], end, cuts[-1][2], form)
        else:
            cuts.append((start, end, nodes, form))
        previous = kind
    return cuts


def _alone(first: ast.AST, last: ast.AST, lines: list[str], lead: tuple[bytes, ...] = (b"",),
           comma: bool = False) -> bool | None:
    """Do `first` to `last` (a statement, element, dict entry or decorator) fill their lines alone:
    only one of `lead` before (a decorator's `@`), and after only a comment (and a comma, when
    `comma`)? None if not; else whether a comma follows. ast columns count UTF-8 bytes."""
    raw = lines[first.lineno - 1].encode("utf-8")
    before = raw[: first.col_offset].strip(b" \t\f")
    if before not in lead:
        return None
    end_line = last.end_lineno or last.lineno
    if end_line != first.lineno:
        raw = lines[end_line - 1].encode("utf-8")
    after = raw[last.end_col_offset or 0:].strip()
    has_comma = comma and after.startswith(b",")
    rest = after[1:].strip() if has_comma else after
    return has_comma if not rest or rest.startswith(b"#") else None


def _bodies(stmt: ast.stmt, lines: list[str]) -> list[list[ast.stmt]]:
    """The statement blocks a compound statement opens (none for a simple statement). An `elif`
    is the `if` node alone in its parent's else block: its blocks are the parent's (its header stays)."""
    orelse = getattr(stmt, "orelse", None)
    if isinstance(stmt, ast.If) and len(orelse) == 1 and isinstance(orelse[0], ast.If) and \
            lines[orelse[0].lineno - 1].lstrip().startswith("elif"):
        return [stmt.body, *_bodies(orelse[0], lines)]
    blocks = [getattr(stmt, name, None) for name in ("body", "orelse", "finalbody")]
    blocks += [handler.body for handler in getattr(stmt, "handlers", ())]
    blocks += [case.body for case in getattr(stmt, "cases", ())]
    blocks = [block for block in blocks if isinstance(block, list) and block and isinstance(block[0], ast.stmt)]
    return sorted(blocks, key=lambda block: block[0].lineno)  # source order: a try's handlers precede its else


def _imports_at_load(node: ast.AST) -> bool:
    """Does the statement import when it runs (not inside a function it defines)?"""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or not isinstance(node, _HOLDS_STATEMENTS):
        return False
    return any(_imports_at_load(child) for child in child_nodes(node) if isinstance(child, ast.stmt))


def _exports(stmt: ast.stmt) -> bool:
    """Does the statement set `__all__`, which the port reads to keep re-exported imports?"""
    cls = type(stmt)
    if cls in _WITH_TARGETS:
        targets = stmt.targets
    elif cls in _WITH_TARGET:
        targets = (stmt.target,)
    else:
        return False
    return any(type(t) is ast.Name and t.id == "__all__" for t in targets)


# The statements that bind (or delete) names: by a list of targets, by one.
_WITH_TARGETS = frozenset({ast.Assign, ast.Delete})
_WITH_TARGET = frozenset({ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor})


def _splice(ported: str, originals: dict[int, str]) -> str | None:
    """The ported skeleton with each placeholder line replaced by its unit's original text; None
    when a placeholder is missing, repeated or altered."""
    out: list[str] = []
    found: set[int] = set()
    for line in ported.splitlines(keepends=True):
        match = _PLACEHOLDER.match(line.rstrip("\r\n"))
        if match is None:
            out.append(line)
            continue
        number = int(match.group(1))
        if number in found or number not in originals:
            return None
        found.add(number)
        out.append(originals[number])
    if found != set(originals):
        return None
    return "".join(out)
