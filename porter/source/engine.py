"""The matching engine: one parse of a file, every rule's matchers over it.

Speed comes from three things. A file is parsed only when it contains one of the catalogue's
tokens. It is parsed with CPython's own `ast` (C speed; libcst is reserved for the files that
port rewrites). And only the statements whose lines contain a token are walked, so a
10,000-line file with one `.cuda()` costs one parse and a short walk.
"""

from __future__ import annotations

import ast
import bisect
import gc
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from porter.source.astwalk import node_fields
from porter.source.astwalk import walk as walk_nodes
from porter.source.catalogue import Matcher, Rule, glob_match, pattern_specificity
from porter.source.findings import INTERNAL_ERROR, SYNTAX_ERROR, Finding
from porter.source.gates import GateCheck
from porter.source.names import SCOPE_NODES, Scope, dotted_parts, import_targets, qualified_names
from porter.source.predicates import PREDICATES, fstring_text, string_value
from porter.source.project import is_own_module
from porter.source.rule_index import RuleIndex, hit_lines, token_lines, word_lines  # noqa: F401 - re-exported
from porter.source.selectors import Selectors
from porter.source.site_context import (
    PORTER_HELPER_PREFIX,
    call_context,
    guarded_by_user,
    is_label,
    is_table,
    markers_above,
    reaches_device,
    value_position,
    whole_statement,
    wrapped_by_porter,
)
from porter.source.suppressions import mark_suppressed

# Receivers rooted in these libraries are namespaces, never the tensor or module a method
# such as `.cuda()` or `.half()` is called on.
LIBRARY_ROOTS = frozenset({"torch", "numpy", "jax", "triton", "apex", "flash_attn", "xformers", "os", "math"})


def _overlapping(nodes: list[ast.AST], hits: list[int]) -> Iterator[ast.AST]:
    for node in nodes:
        start = getattr(node, "lineno", None)
        if start is None:  # a `case` block has no position of its own: look inside
            yield node
            continue
        decorators = getattr(node, "decorator_list", None)
        if decorators:
            start = min(start, decorators[0].lineno)
        i = bisect.bisect_left(hits, start)
        if i < len(hits) and hits[i] <= (node.end_lineno or start):
            yield node


def import_aliases(tree: ast.Module, hits: list[int], tokens: tuple[str, ...]) -> set[str]:
    """Names bound by imports on token lines that do not spell a token themselves.

    `import torch.cuda as tc` puts "cuda" on its own line only; every later `tc.synchronize()`
    must count as a token line too, or the walk would skip it.
    """
    aliases: set[str] = set()
    stack = list(_overlapping(tree.body, hits))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".", 1)[0]
                if bound != "*" and not any(t in bound for t in tokens):
                    aliases.add(bound)
            continue
        for name in ("body", "orelse", "handlers", "finalbody", "cases"):
            block = getattr(node, name, None)
            if block:
                stack.extend(_overlapping(block, hits))
    return aliases


def last_name(node: ast.AST) -> str:
    """The last name of a dotted expression: `optimizer` in `optimizer.step()`'s receiver, `opt` in
    `self.opt`, `CUDAExtension` in `cpp_extension.CUDAExtension`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


class _Analysis:
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
        # The ast node of each finding (by its index in `findings`), for the device-test check.
        self.nodes: dict[int, ast.AST] = {}
        self.tree: ast.Module | None = None
        self._own_attributes: set[tuple[str, str]] | None = None
        # Nodes inside a Triton kernel (its body, signature and other decorators): the kernel is
        # reported once, on its @triton.jit decorator, not once per `tl.*` use.
        self.in_kernel: set[int] = set()
        self._selectors: Selectors | None = None

    def selectors(self) -> Selectors:
        """The implementation-choosing names (`impl in ["ref", "cuda"]`), found on first need."""
        if self._selectors is None:
            self._selectors = Selectors(self.tree, self.source)
        return self._selectors

    # -- positions --------------------------------------------------------------------------

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
        self.findings.append(
            Finding(
                path=self.path,
                line=line,
                col=self._char_col(line, col),
                rule_id=rule.id,
                message=message,
                end_line=end_line,
                end_col=self._char_col(end_line, node.end_col_offset or node.col_offset),
                cell=self.cell,
                matched=matched,
                manual=manual,
            )
        )

    def claim(self, node: ast.AST) -> None:
        """A value a call/keyword rule reported: the string and name rules stay quiet inside it."""
        for sub in walk_nodes(node):
            if isinstance(sub, (ast.Constant, ast.JoinedStr, ast.Name, ast.Attribute)):
                self.claimed.add(id(sub))

    # -- the walk ---------------------------------------------------------------------------

    def walk(self, tree: ast.Module, hits: list[int]) -> Iterator[tuple[ast.AST, Scope]]:
        """The nodes overlapping a hit line (and the nodes without a position, which may hold
        some: `case` blocks, arguments) that `run` dispatches on, each with its scope, parents
        recorded for all. Operator and context leaves (`Load()`, `Add()`) are not visited."""
        module_scope = Scope(tree, None, walrus_lines=token_lines(self.source, (":=",)))
        self._mark_docstring(tree)
        parents = self.parents
        bisect_left, n_hits, AST = bisect.bisect_left, len(hits), ast.AST
        stack: list[tuple[ast.AST, Scope]] = [(tree, module_scope)]
        while stack:
            node, scope = stack.pop()
            cls = type(node)
            if cls is ast.FunctionDef and node.name.startswith(PORTER_HELPER_PREFIX):
                continue  # a helper porter added (`_porter_device`, `_porter_save`): handled code
            if cls in _DISPATCHED:  # most nodes are only passed through: `run` does nothing with them
                yield node, scope
            inner = scope
            if cls in _SCOPE_CLASSES:
                inner = Scope(node, scope)
                if cls not in _EXPRESSION_SCOPES:
                    self._mark_docstring(node)
            for field_name, is_inner in _walk_fields(cls):
                value = getattr(node, field_name, None)
                if value is None:
                    continue
                children = value if type(value) is list else (value,)
                child_scope = inner if is_inner else scope
                for child in children:
                    if not isinstance(child, AST):
                        continue
                    start = getattr(child, "lineno", None)
                    if start is not None:  # does it overlap a hit line (its decorators count)?
                        decorators = getattr(child, "decorator_list", None)
                        if decorators:
                            start = min(start, decorators[0].lineno)
                        i = bisect_left(hits, start)
                        if i == n_hits or hits[i] > (child.end_lineno or start):
                            continue
                    parents[id(child)] = node
                    stack.append((child, child_scope))

    def _mark_docstring(self, node: ast.AST) -> None:
        body = getattr(node, "body", None)
        if body and isinstance(body, list) and isinstance(body[0], ast.Expr):
            if string_value(body[0].value) is not None:
                self.docstrings.add(id(body[0].value))

    # -- dispatch ---------------------------------------------------------------------------

    def run(self, tree: ast.Module, hits: list[int]) -> None:
        self.tree = tree
        for node, scope in self.walk(tree, hits):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
                self._triton_kernel(node, scope)
            if isinstance(node, ast.Call):
                self._call(node, scope)
            elif isinstance(node, (ast.Attribute, ast.Name)):
                parent = self.parents.get(id(node))
                if not (isinstance(parent, ast.Attribute) and parent.value is node):
                    self._chain(node, parent, scope)
            elif isinstance(node, ast.Compare):
                self._compare(node, scope)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node)
            elif isinstance(node, ast.JoinedStr):
                for value in node.values:
                    self.in_fstring.add(id(value))
                self.strings.append((node, scope))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.strings.append((node, scope))
        # Strings last: a literal that a more specific rule reported is not reported again.
        for node, scope in self.strings:
            self._string(node, scope)
        if any(rule.device_test or any(m.value == "cpu-device" for m in rule.matchers) for rule in self.index.rules):
            rules = {rule.id: rule for rule in self.index.rules}
            gated = GateCheck(tree, self.parents, self.findings, self.nodes, rules, self.source,
                              self.selectors).apply()
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

    def own_attribute(self, node: ast.Attribute) -> bool:
        """Is this an attribute the file gives its own objects (`self.is_cuda = flag`, a method or class
        attribute of that name read through `self`)? Then it is the user's, not the tensor property."""
        if self._own_attributes is None:
            own: set[tuple[str, str]] = set()
            # Only names the text assigns or defines somewhere need the walk (the common case: none).
            wanted = {name for name in self.index.attributes if name in self.source
                      and re.search(rf"(\.|\bdef\s+|^\s*){re.escape(name)}\s*(=[^=]|:|\()", self.source, re.M)}
            for sub in walk_nodes(self.tree) if wanted else ():
                if isinstance(sub, ast.Attribute) and sub.attr in wanted and not isinstance(sub.ctx, ast.Load):
                    own.add((ast.unparse(sub.value), sub.attr))
                elif isinstance(sub, ast.ClassDef):
                    for item in sub.body:
                        names = [item.name] if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) else [
                            t.id for t in getattr(item, "targets", [getattr(item, "target", None)])
                            if isinstance(t, ast.Name)]
                        own.update((receiver, n) for n in names if n in wanted for receiver in ("self", "cls"))
            self._own_attributes = own
        return bool(self._own_attributes) and (ast.unparse(node.value), node.attr) in self._own_attributes

    def _triton_kernel(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope) -> None:
        """A `@triton.jit` function: every triton name inside it (and on its other decorators,
        `@triton.autotune(configs=[triton.Config(...)])`) is part of the one kernel finding."""
        jit = None
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if any(q in TRITON_JIT for q in qualified_names(target, scope)):
                jit = target
                break
        if jit is None:
            return
        for part in (*node.decorator_list, node.args, *node.body, *([node.returns] if node.returns else ())):
            for sub in walk_nodes(part):
                if sub is not jit:
                    self.in_kernel.add(id(sub))
        rule = self._kernel_rule(jit, scope)
        if rule is not None:
            self.claimed.add(id(jit))  # reported here, by name, not again by the walk
            self._guard(rule, self.report, rule, jit, node.name, None,
                        "a use of the package: port guards its imports and marks its uses")

    def _kernel_rule(self, jit: ast.AST, scope: Scope) -> Rule | None:
        for rule, m in self.index.names:
            if "decorator" in m.context and any(glob_match(q, m.names) for q in qualified_names(jit, scope)):
                return rule
        return None

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

    def _is_namespace(self, node: ast.AST, scope: Scope) -> bool:
        """Is this receiver a module or library namespace rather than a value?"""
        parts = dotted_parts(node)
        if not parts:
            return False
        heads = scope.lookup(parts[0])
        if not heads:
            return False
        return scope.is_module(parts[0]) or any(h.split(".", 1)[0] in LIBRARY_ROOTS for h in heads)

    def _chain(self, node: ast.AST, parent: ast.AST | None, scope: Scope) -> None:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            return  # `flash_attn_func = None` rebinds the name; it does not use the import
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) \
                and node.attr in self.index.attributes and not self.own_attribute(node):
            for rule, _ in self.index.attributes.get(node.attr, ()):
                is_call = isinstance(parent, ast.Call) and parent.func is node
                if not is_call and not self._is_namespace(node.value, scope):
                    start = (node.end_lineno, node.end_col_offset - len(node.attr))
                    self._guard(rule, self.report, rule, node, node.attr, start)
        if not self.index.names or id(node) in self.claimed:
            return
        qualnames = qualified_names(node, scope)
        if not qualnames:
            return
        context = call_context(node, parent, self.parents)
        if context == "call" and wrapped_by_porter(parent, self.parents):
            return
        best: tuple[int, Rule, str] | None = None
        names = self.index.names
        per_name = [(q, self.index.name_patterns(q)) for q in qualnames]
        for i in sorted({i for _, patterns in per_name for i in patterns}):  # the matchers in index order
            rule, m = names[i]
            if context not in m.context:
                continue
            if context == "decorator" and isinstance(parent, ast.Call) and parent.func is node \
                    and _judged_as_call(rule, qualnames):
                continue  # `@torch.compile(backend=...)`: the rule's call matcher reads its arguments
            for q, patterns in per_name:
                pattern = patterns.get(i)
                if pattern is not None and not (is_package_rule(rule) and self._own(q)):
                    score = pattern_specificity(pattern)
                    if best is None or score > best[0] or (score == best[0] and rule.id < best[1].id):
                        best = (score, rule, q)
        if best is not None:
            manual = ""
            transforms = {f.transform for f in best[1].fixes.values()}
            if context == "reference" and transforms & CALL_TRANSFORMS:
                manual = "it is only referred to here, not called, and the fix rewrites a call"
            elif "guard-import" in transforms:
                manual = "a use of the package: port guards its imports and marks its uses"
            self._guard(best[1], self.report, best[1], node, best[2], None, manual)

    def _call(self, node: ast.Call, scope: Scope) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            # Point at `.cuda()`, not at the start of a long receiver expression.
            attr_start = (func.end_lineno, func.end_col_offset - len(func.attr))
            for rule, m in self.index.methods.get(func.attr, ()):
                if m.receiver_regex is not None and not m.receiver_regex.search(last_name(func.value)):
                    continue
                if not self._is_namespace(func.value, scope):
                    self._guard(rule, self.report, rule, node, func.attr, attr_start)
            if func.attr == "startswith" and node.args:
                for rule, m in self.index.compares:
                    self._guard(rule, self._compare_operand, rule, m, node, node.args[0], scope)
        calls = self.index.calls
        if calls:
            # The call matchers this call is for: by callee name, or by method on a value (not a namespace).
            hits: set[int] = set()
            if isinstance(func, ast.Attribute):
                by_method = self.index.method_calls(func.attr)
                if by_method and not self._is_namespace(func.value, scope):
                    hits.update(by_method)
            for q in qualified_names(func, scope):
                hits |= self.index.callee_matches(q)
            for i in sorted(hits):  # in catalogue order, as one matcher may claim what a later one sees
                rule, m = calls[i]
                self._guard(rule, self._call_argument, rule, m, node, scope)
            self._partial_call(node, scope)
        for kw in node.keywords:
            for rule, m in self.index.keywords.get(kw.arg, ()):
                self._guard(rule, self._keyword, rule, m, node, kw, scope)

    def _partial_call(self, node: ast.Call, scope: Scope) -> None:
        """`partial(autocast, "cuda", enabled=False)` is the call `autocast("cuda", enabled=False)` made
        later: its arguments are checked as that call's (autocast only, whose fix rewrites the partial)."""
        if not node.args or isinstance(node.args[0], ast.Starred) \
                or "functools.partial" not in qualified_names(node.func, scope):
            return
        inner = ast.Call(func=node.args[0], args=node.args[1:], keywords=node.keywords)
        hits: set[int] = set()
        for q in qualified_names(node.args[0], scope):
            hits |= self.index.callee_matches(q)
        for i in sorted(hits):
            rule, m = self.index.calls[i]
            if m.value != "absent" and {f.transform for f in rule.fixes.values()} == {"autocast"}:
                self._guard(rule, self._call_argument, rule, m, inner, scope)

    def _call_argument(self, rule: Rule, m: Matcher, node: ast.Call, scope: Scope) -> None:
        if m.keywords_only and (node.args or any(k.arg is not None and k.arg not in m.keywords_only
                                                 for k in node.keywords)):
            return  # not the API's signature: another object's method of the same name
        if m.without is not None and (any(k.arg == m.without for k in node.keywords) or (
                m.without_position is not None and len(node.args) > m.without_position)):
            return  # the call passes the argument whose absence this matcher is about
        arg = None
        if m.position is not None and len(node.args) > m.position:
            if not any(isinstance(a, ast.Starred) for a in node.args[: m.position + 1]):
                arg = node.args[m.position]
        label = ""
        if arg is None and m.keyword is not None:
            arg = next((k.value for k in node.keywords if k.arg == m.keyword), None)
            label = f"{m.keyword}="
        if m.value == "absent":
            splat = any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args)
            if arg is None and not splat:
                self.report(rule, node.func, m.keyword or f"argument {m.position}")
            return
        if arg is not None and PREDICATES[m.value](arg, scope):
            self.claim(arg)
            self.report(rule, arg, label + self._describe(arg),
                        manual=_mapping_reason(arg) or _own_value_kept(rule, node))

    def _keyword(self, rule: Rule, m: Matcher, node: ast.Call, kw: ast.keyword, scope: Scope) -> None:
        if m.exclude_callee:
            func = node.func
            names = qualified_names(func, scope)
            if any(glob_match(q, m.exclude_callee) for q in names):
                return
            if isinstance(func, ast.Attribute) and func.attr in m.exclude_callee:
                return
        if PREDICATES[m.value](kw.value, scope):
            self.claim(kw.value)
            self.report(rule, kw, f"{kw.arg}={self._describe(kw.value)}",
                        manual=_mapping_reason(kw.value) or _own_value_kept(rule, node))

    def _compare(self, node: ast.Compare, scope: Scope) -> None:
        if not all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
            return
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)) and is_table(node.comparators[0]) \
                and string_value(node.left) is not None:
            return  # `"cuda" in BACKENDS`: a key looked up in a table, not a test of a device
        if any("cuda" in (string_value(s) or "") for s in _compared_strings(node)) \
                and id(node) in self.selectors().compares:
            return  # `impl == "cuda"` where impl also is "ref": a choice of implementation, not a device
        for rule, m in self.index.compares:
            if m.value == "cpu-device":  # `x.device.type == "cpu"` only: "cpu" in a list of names is no CPU test
                if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                    self._guard(rule, self._compare_operand, rule, m, node, node.comparators[0], scope)
                continue
            for operand in _compared_strings(node):
                self._guard(rule, self._compare_operand, rule, m, node, operand, scope)

    def _compare_operand(self, rule: Rule, m: Matcher, node: ast.AST, operand: ast.AST, scope: Scope) -> None:
        if id(operand) not in self.claimed and PREDICATES[m.value](operand, scope):
            self.claim(operand)
            self.report(rule, node, self._describe(operand))

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias, qualname in import_targets(node):
            best: tuple[int, Rule] | None = None
            own = self._own(qualname)
            for rule, m in self.index.imports:
                if own and not m.compiled and is_package_rule(rule):
                    continue  # the project's own package, even when it bears a CUDA-only package's name
                pattern = glob_match(qualname, m.names)
                if pattern is None and m.compiled:
                    # `from selective_scan_cuda import fwd`: a name inside a compiled module
                    parts = qualname.split(".")
                    pattern = next((p for i in range(len(parts) - 1, 0, -1)
                                    for p in [glob_match(".".join(parts[:i]), m.names)] if p), None)
                if pattern is not None:
                    score = pattern_specificity(pattern)
                    if best is None or score > best[0]:
                        best = (score, rule)
            if best is not None:
                if guarded_by_user(node, self.parents) \
                        and {f.transform for f in best[1].fixes.values()} == {"guard-import"}:
                    continue  # `try: import triton / except ImportError:` already is what port would write
                self._guard(best[1], self.report, best[1], alias, qualname)

    def _own(self, qualname: str) -> bool:
        """A name from the project's own package (porter.source.project): never the CUDA-only package."""
        return bool(self.path) and is_own_module(qualname, self.path)

    def _string(self, node: ast.AST, scope: Scope) -> None:
        key = id(node)
        if key in self.claimed or key in self.docstrings or key in self.in_fstring:
            return
        if isinstance(node, ast.JoinedStr):
            text, is_f = fstring_text(node), True
        else:
            text, is_f = node.value, False
        for rule, m in self.index.strings:
            if is_f and not m.fstring:
                continue
            if m.regex.search(text):
                self.claimed.add(key)
                if "cuda" in text.lower() and key in self.selectors().strings:
                    return  # `impl="cuda"` where impl also is "ref": the name of an implementation
                if is_label(node, text, self.parents):
                    return  # `{"cuda": "gpu"}`, `names["cuda"]`: a key naming a device kind, not a device
                manual = "" if value_position(node, self.parents) else (
                    "it is compared, printed, listed, keyed or computed with rather than passed on as a value")
                self._guard(rule, self.report, rule, node, text, None, manual)
                return

    @staticmethod
    def _describe(node: ast.AST) -> str:
        try:
            text = ast.unparse(node)
        except Exception:  # unparse has gaps on some node kinds
            return type(node).__name__
        return text if len(text) <= 60 else text[:57] + "..."


def _mapping_reason(value: ast.AST) -> str:
    # `map_location={"cuda:1": "cuda:0"}`: location tags map to location tags, not to devices.
    return "a mapping of device names needs its own new names" if isinstance(value, ast.Dict) else ""


def _own_value_kept(rule: Rule, call: ast.Call) -> str:
    """Why the port marks rather than fixes a site: its safe `keywords` fix would set a keyword the
    call passes an expression of the program's own (`backend=BACKEND`), which a safe fix keeps
    (porter.rewrite.keyword_edits.keywords_transform). "" when it does not."""
    keys = {key for fix in rule.fixes.values() if fix.transform == "keywords" and fix.applicability == "safe"
            for key in fix.set}
    for kw in call.keywords if keys else ():
        if kw.arg in keys and not isinstance(kw.value, ast.Constant):
            text = ast.unparse(kw.value)
            if "_porter_" not in text:  # what an earlier port wrote is porter's, not the program's
                return f"`{kw.arg}={text}` is the program's own value, kept"
    return ""


TRITON_PREFIX = "triton"
TRITON_JIT = frozenset({"triton.jit", "triton.runtime.jit.jit"})


# Fixes of rules that stand for a whole CUDA-only package (flash_attn, triton, apex, ...): inside the
# package itself (porter.source.project) its names are the project's own and these rules stay quiet.
PACKAGE_TRANSFORMS = frozenset({"guard-import", "swap-import"})


def is_package_rule(rule: Rule) -> bool:
    return any(fix.transform in PACKAGE_TRANSFORMS for fix in rule.fixes.values())


# Fixes that rewrite the call a name is the callee of: a bare reference to the name cannot take them.
CALL_TRANSFORMS = frozenset({"guarded-call", "replace", "autocast", "keywords", "statement"})


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
# The node classes `_Analysis.run` does something with.
def _judged_as_call(rule: Rule, qualnames: set[str] | list[str]) -> bool:
    """Does the rule have a call matcher for this callee (its arguments decide, not the name)?"""
    return any(m.kind == "call" and m.callee and any(glob_match(q, m.callee) for q in qualnames)
               for m in rule.matchers)


def _compared_strings(node: ast.Compare) -> list[ast.AST]:
    """The string operands of a comparison, and the strings of a literal list, tuple or set that a
    name is tested for membership in (`device_type in ["cuda", "cpu"]` is `== "cuda" or == "cpu"`)."""
    found = [o for o in (node.left, *node.comparators) if string_value(o) is not None]
    for op, right in zip(node.ops, node.comparators, strict=True):
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple, ast.Set)) \
                and right.elts and all(string_value(e) is not None for e in right.elts):
            found.extend(right.elts)
    return found


_DISPATCHED = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Call, ast.Attribute, ast.Name, ast.Compare,
                         ast.Import, ast.ImportFrom, ast.JoinedStr, ast.Constant})
_EXPRESSION_SCOPES = frozenset({ast.Lambda, *COMPREHENSIONS})
_WALK_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _walk_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """A node class's fields that may hold nodes, each with whether it belongs to the scope the
    node opens (INNER_FIELDS)."""
    fields = _WALK_FIELDS.get(cls)
    if fields is None:
        inner = INNER_FIELDS.get(cls, ())
        fields = _WALK_FIELDS[cls] = tuple((f, f in inner) for f in node_fields(cls))
    return fields


def syntax_error_finding(exc: BaseException, path: str, cell: int | None) -> Finding:
    if isinstance(exc, SyntaxError):
        line = exc.lineno or 1
        col = exc.offset or 1
        message = f"syntax error, file not checked: {exc.msg}"
    else:
        line, col = 1, 1
        message = f"file could not be parsed, not checked: {type(exc).__name__}: {exc}"
    return Finding(path=path, line=line, col=col, rule_id=SYNTAX_ERROR, message=message,
                   end_line=line, end_col=col, cell=cell)


def analyse_source(source: str, path: str, index: RuleIndex, cell: int | None = None,
                   tokens: tuple[str, ...] | None = None, keep_tree: list | None = None) -> list[Finding]:
    """Every finding of the indexed rules in one Python source, suppressions marked. `tokens`, when
    given, are the index's search tokens the source holds (the rest it does not): found in the
    file's bytes by the prefilter, they spare the line scan a pass over the text per absent token.
    `keep_tree`: when given, the parsed tree is appended to it (the port cuts the file with it)."""
    if index.token_regex is None:
        return []
    hits = token_lines(source, index.search_tokens if tokens is None else tokens)
    if not hits:
        return []
    with gc_paused():
        return _analyse_parsed(source, path, index, cell, hits, keep_tree)


def _analyse_parsed(source: str, path: str, index: RuleIndex, cell: int | None, hits: list[int],
                    keep_tree: list | None = None) -> list[Finding]:
    # A function of its own so that the tree is freed on return, before the collector runs again.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not ours
            tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [syntax_error_finding(exc, path, cell)]
    if keep_tree is not None:
        keep_tree.append(tree)
    aliases = import_aliases(tree, hits, index.tokens)
    if aliases:
        hits = sorted(set(hits).union(word_lines(source, aliases)))
    analysis = _Analysis(source, path, index, cell)
    analysis.run(tree, hits)
    return mark_suppressed(analysis.findings, source)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while one file is parsed and analysed. An ast is a tree (freed
    by reference counting), but building one allocates so many objects that the collector would run
    hundreds of times over a large file and scan the growing tree each time: about half the parse
    time. Any cycle made meanwhile is collected after (the tree itself is gone by then)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
