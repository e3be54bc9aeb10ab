"""One file's analysis: the walk of the statements on token lines (each node with its scope, parents
recorded), the dispatch of each node to its matchers (porter.source.matching), and the findings
reported, gated and marked. A rule that raises yields an internal-error finding, never an abort.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import replace

from porter.source.astwalk import node_fields
from porter.source.astwalk import walk as walk_nodes
from porter.source.catalogue import Rule
from porter.source.findings import INTERNAL_ERROR, Finding, new_finding
from porter.source.gates import GateCheck
from porter.source.matching import Matchers
from porter.source.names import IMPORTING_CALLS, SCOPE_NODES, Scope
from porter.source.predicates import string_value
from porter.source.rule_index import RuleIndex, token_lines
from porter.source.selectors import Selectors
from porter.source.site_context import PORTER_HELPER_PREFIX, markers_above, reaches_device, whole_statement

TRITON_PREFIX = "triton"
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# The fields of a scope-opening node that belong to the new scope; decorators, bases and
# default values are evaluated in the enclosing one.
INNER_FIELDS: dict[type, tuple[str, ...]] = {
    ast.FunctionDef: ("args", "body", "returns"),
    ast.AsyncFunctionDef: ("args", "body", "returns"),
    ast.Lambda: ("args", "body"),
    ast.ClassDef: ("body",),
    ast.ListComp: ("elt", "generators"),
    ast.SetComp: ("elt", "generators"),
    ast.GeneratorExp: ("elt", "generators"),
    ast.DictComp: ("key", "value", "generators"),
}
_SCOPE_CLASSES = frozenset(SCOPE_NODES)
# The node classes `Analysis.run` does something with.
_DISPATCHED = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Call, ast.Attribute, ast.Name, ast.Compare,
                         ast.Import, ast.ImportFrom, ast.JoinedStr, ast.Constant})
_EXPRESSION_SCOPES = frozenset({ast.Lambda, *COMPREHENSIONS})
# Nodes whose children's positions may lie off their own lines.
_PARTS_ELSEWHERE = frozenset({ast.JoinedStr, ast.FormattedValue})
# (A constant's value is never a node.)
_WALK_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {ast.Constant: ()}


def _walk_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """A node class's fields that may hold nodes, each with whether it belongs to the scope the
    node opens (INNER_FIELDS)."""
    fields = _WALK_FIELDS.get(cls)
    if fields is None:
        inner = INNER_FIELDS.get(cls, ())
        fields = _WALK_FIELDS[cls] = tuple((f, f in inner) for f in node_fields(cls))
    return fields


class Analysis(Matchers):
    """The state of one file's analysis: its findings and the node of each, the nodes claimed by a
    finding (that the string and name rules then skip), the parent of each walked node."""

    def __init__(self, source: str, path: str, index: RuleIndex, cell: int | None) -> None:
        self.source = source
        self.path = path
        self.index = index
        self.cell = cell
        self.findings: list[Finding] = []
        self.claimed: set[int] = set()
        self.docstrings: set[int] = set()
        self.in_fstring: set[int] = set()
        self.parents: dict[int, ast.AST] = {}
        self.strings: list[tuple[ast.AST, Scope]] = []
        self.broken_rules: set[str] = set()
        self._lines: list[str] | None = None
        self._ascii = source.isascii()
        # The ast node of each finding (by its index in `findings`), for the device-test check.
        self.nodes: dict[int, ast.AST] = {}
        self.tree: ast.Module | None = None
        self._own_attributes: set[tuple[str, str]] | None = None
        # Nodes inside a Triton kernel (its body, signature and other decorators): the kernel is
        # reported once, on its @triton.jit decorator, not once per `tl.*` use.
        self.in_kernel: set[int] = set()
        self._selectors: Selectors | None = None
        self._qualnames: dict[int, set[str]] = {}

    def selectors(self) -> Selectors:
        """The implementation-choosing names (`impl in ["ref", "cuda"]`), found on first need."""
        if self._selectors is None:
            self._selectors = Selectors(self.tree, self.source)
        return self._selectors

    # -- positions ---------------------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.source.split("\n")
        return self._lines

    def _char_col(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return byte_col + 1
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace")) + 1

    def report(self, rule: Rule, node: ast.AST, matched: str, start: tuple[int, int] | None = None,
               manual: str = "") -> None:
        if rule.id not in self.index.reported:
            return
        if rule.reach == "device" and not reaches_device(node, self.parents):
            return
        if id(node) in self.in_kernel and matched.startswith(TRITON_PREFIX):
            return  # one finding per Triton kernel, on its @triton.jit decorator
        if not manual and rule.removes_statement and not whole_statement(node, self.parents):
            manual = "its value is read, so the statement cannot simply be removed"
        line, col = start or (node.lineno, node.col_offset)
        end_line = node.end_lineno or node.lineno
        message = rule.message.replace("{name}", matched)
        self.nodes[len(self.findings)] = node
        end_col = node.end_col_offset or node.col_offset
        if self._ascii:  # bytes are characters
            col, end_col = col + 1, end_col + 1
        else:
            col, end_col = self._char_col(line, col), self._char_col(end_line, end_col)
        self.findings.append(new_finding(self.path, line, col, rule.id, message, end_line, end_col, self.cell,
                                         matched, manual))

    def claim(self, node: ast.AST) -> None:
        """A value a call/keyword rule reported: the string and name rules stay quiet inside it."""
        for sub in walk_nodes(node):
            if isinstance(sub, (ast.Constant, ast.JoinedStr, ast.Name, ast.Attribute)):
                self.claimed.add(id(sub))

    # -- the walk and dispatch ------------------------------------------------------------------

    def run(self, tree: ast.Module, hits: list[int]) -> None:
        """Walks the nodes overlapping a hit line (and the nodes without a position, which may hold
        some: `case` blocks, arguments), each with its scope, parents recorded for all, and hands
        each to its matcher as it is reached (before its children are walked). Operator and
        context leaves (`Load()`, `Add()`) are not visited. Then strings, gates and markers."""
        self.tree = tree
        module_scope = Scope(tree, None, walrus_lines=token_lines(self.source, (":=",)),
                             # (a name may be spelled in other characters that NFKC makes these)
                             importing_calls=not self._ascii or any(name in self.source for name in IMPORTING_CALLS))
        self._mark_docstring(tree)
        parents = self.parents
        bisect_left, n_hits, AST = bisect.bisect_left, len(hits), ast.AST
        Call, Attribute, Name, Constant, Load = ast.Call, ast.Attribute, ast.Name, ast.Constant, ast.Load
        strings, in_fstring = self.strings, self.in_fstring
        # each node with its scope and whether it lies on one line with its parent, as walked nodes
        # on one line overlap a hit line and so do all their parts (see below)
        stack: list[tuple[ast.AST, Scope, bool]] = [(tree, module_scope, False)]
        while stack:
            node, scope, inside = stack.pop()
            cls = type(node)
            # the dispatch, most frequent kinds first; most nodes are only passed through
            if cls is Call:
                self._call(node, scope)
            elif cls is Attribute or cls is Name:
                parent = parents.get(id(node))
                if not (type(parent) is Attribute and parent.value is node):
                    self._chain(node, parent, scope)
            elif cls is Constant:
                if type(node.value) is str:
                    strings.append((node, scope))
            elif cls in _DISPATCHED:
                if cls is ast.FunctionDef or cls is ast.AsyncFunctionDef:
                    if cls is ast.FunctionDef and node.name.startswith(PORTER_HELPER_PREFIX):
                        continue  # a helper porter added (`_porter_device`, `_porter_save`): handled code
                    if node.decorator_list:
                        self._triton_kernel(node, scope)
                elif cls is ast.Compare:
                    self._compare(node, scope)
                elif cls is ast.Import or cls is ast.ImportFrom:
                    self._import(node)
                elif cls is ast.JoinedStr:
                    for value in node.values:
                        in_fstring.add(id(value))
                    strings.append((node, scope))
            inner = scope
            if cls in _SCOPE_CLASSES:
                inner = Scope(node, scope)
                if cls not in _EXPRESSION_SCOPES:
                    self._mark_docstring(node)
            # A node on one line that was walked overlaps a hit line, and so do its children, all on
            # that line (not a decorated definition's decorators, nor an f-string's parts)
            if cls in _PARTS_ELSEWHERE:
                inside = False
            elif not inside:
                line = getattr(node, "lineno", None)
                inside = line is not None and line == getattr(node, "end_lineno", None) \
                    and not getattr(node, "decorator_list", None)
            for field_name, is_inner in _WALK_FIELDS.get(cls) or _walk_fields(cls):
                value = getattr(node, field_name, None)
                if value is None:
                    continue
                children = value if type(value) is list else (value,)
                child_scope = inner if is_inner else scope
                for child in children:
                    if not isinstance(child, AST):
                        continue
                    start = None if inside else getattr(child, "lineno", None)
                    if start is not None:  # does it overlap a hit line (its decorators count)?
                        decorators = getattr(child, "decorator_list", None)
                        if decorators:
                            start = min(start, decorators[0].lineno)
                        i = bisect_left(hits, start)
                        if i == n_hits or hits[i] > (child.end_lineno or start):
                            continue
                    parents[id(child)] = node
                    leaf = type(child)
                    if leaf is Name and (cls is Attribute or type(child.ctx) is not Load) \
                            or leaf is Constant and type(child.value) is not str:
                        # nothing to match, nothing below: a chain's first name (the chain is matched
                        # whole), a name bound or deleted, a number
                        continue
                    stack.append((child, child_scope, inside))
        self._after_walk(tree)

    def _mark_docstring(self, node: ast.AST) -> None:
        body = getattr(node, "body", None)
        if body and isinstance(body, list) and isinstance(body[0], ast.Expr):
            if string_value(body[0].value) is not None:
                self.docstrings.add(id(body[0].value))

    def _after_walk(self, tree: ast.Module) -> None:
        # Strings last: a literal that a more specific rule reported is not reported again.
        for node, scope in self.strings:
            self._string(node, scope)
        if any(rule.device_test or any(m.value == "cpu-device" for m in rule.matchers) for rule in self.index.rules):
            rules = {rule.id: rule for rule in self.index.rules}
            gated = GateCheck(tree, self.parents, self.findings, self.nodes, rules, self.source,
                              self.selectors, self.index.target).apply()
            if None in gated:  # dropped findings: the nodes are renumbered with the rest
                kept = [i for i, f in enumerate(gated) if f is not None]
                self.nodes = {new: self.nodes[old] for new, old in enumerate(kept) if old in self.nodes}
            self.findings = [f for f in gated if f is not None]
        if "porter:" in self.source:
            self._acknowledge_markers()

    def _acknowledge_markers(self) -> None:
        """A site with its rule's `# porter: NRNxxx` marker above its statement is marked."""
        for i, finding in enumerate(self.findings):
            node = self.nodes.get(i)
            if node is not None and finding.rule_id in markers_above(node, self.parents, self.tree, self.lines):
                self.findings[i] = replace(finding, marked=True)

    def _guard(self, rule: Rule, fn, *args) -> None:
        if rule.id in self.broken_rules:
            return
        try:
            fn(*args)
        except Exception as exc:  # a broken rule must never abort the run
            self.broken_rules.add(rule.id)
            self.findings.append(
                Finding(
                    path=self.path, line=1, col=1, rule_id=INTERNAL_ERROR,
                    message=f"internal error in rule {rule.id}: {type(exc).__name__}: {exc}",
                    end_line=1, end_col=1, cell=self.cell, matched=rule.id,
                )
            )
