"""The rules' matchers over one node each: a name or attribute chain, a call (by callee, by method,
by argument or keyword), a comparison, an import, a string. `Matchers` is a part of the engine's
`Analysis` (porter.source.analysis), kept here so that the walk and the matching read apart.
"""

from __future__ import annotations

import ast
import re

from porter.source.astwalk import walk as walk_nodes
from porter.source.catalogue import Matcher, Rule, glob_match, pattern_specificity
from porter.source.names import Scope, dotted_parts, import_targets, qualified_names
from porter.source.predicates import PREDICATES, fstring_text, string_value
from porter.source.project import is_own_module
from porter.source.rule_index import RuleIndex
from porter.source.site_context import (
    call_context,
    guarded_by_user,
    is_label,
    is_table,
    value_position,
    wrapped_by_porter,
)

# Receivers rooted in these libraries are namespaces, never the tensor or module a method
# such as `.cuda()` or `.half()` is called on.
LIBRARY_ROOTS = frozenset({"torch", "numpy", "jax", "triton", "apex", "flash_attn", "xformers", "os", "math"})
TRITON_JIT = frozenset({"triton.jit", "triton.runtime.jit.jit"})
# Fixes of rules that stand for a whole CUDA-only package (flash_attn, triton, apex, ...): inside the
# package itself (porter.source.project) its names are the project's own and these rules stay quiet.
PACKAGE_TRANSFORMS = frozenset({"guard-import", "swap-import"})
# Fixes that rewrite the call a name is the callee of: a bare reference to the name cannot take them.
CALL_TRANSFORMS = frozenset({"guarded-call", "replace", "autocast", "keywords", "statement"})


def last_name(node: ast.AST) -> str:
    """The last name of a dotted expression: `optimizer` in `optimizer.step()`'s receiver, `opt` in
    `self.opt`, `CUDAExtension` in `cpp_extension.CUDAExtension`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


class Matchers:
    """The per-node matching of `Analysis`: what each dispatched node kind is checked for."""

    # Set by Analysis.__init__ (and `report`, `_guard`, `selectors` are its own).
    source: str
    path: str
    index: RuleIndex
    claimed: set[int]
    parents: dict[int, ast.AST]
    tree: ast.Module | None
    in_kernel: set[int]
    _own_attributes: set[tuple[str, str]] | None
    _qualnames: dict[int, set[str]]

    def _qualified(self, node: ast.AST, scope: Scope) -> set[str]:
        """`qualified_names(node, scope)`, once per node: a call's callee is asked for by the name
        rules, the call rules and the partial check (the set is shared: callers only read it)."""
        found = self._qualnames.get(id(node))
        if found is None:
            found = self._qualnames[id(node)] = qualified_names(node, scope)
        return found

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
            if any(q in TRITON_JIT for q in self._qualified(target, scope)):
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
            if "decorator" in m.context and any(glob_match(q, m.names) for q in self._qualified(jit, scope)):
                return rule
        return None

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
        qualnames = self._qualified(node, scope)
        if not qualnames:
            return
        # in sorted order: of names tied for the best pattern, the report names the same one every run
        # (a set's order changes with the interpreter's string hashing)
        per_name = [(q, self.index.name_patterns(q)) for q in sorted(qualnames)]
        matched = {i for _, patterns in per_name for i in patterns}
        if not matched:
            return  # most names a file reads match no rule
        context = call_context(node, parent, self.parents)
        if context == "call" and wrapped_by_porter(parent, self.parents):
            return
        best: tuple[int, Rule, str] | None = None
        names = self.index.names
        for i in sorted(matched):  # the matchers in index order
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
            transforms = best[1].transforms
            if context == "reference" and transforms & CALL_TRANSFORMS:
                manual = "it is only referred to here, not called, and the fix rewrites a call"
            elif "guard-import" in transforms:
                manual = "a use of the package: port guards its imports and marks its uses"
            self._guard(best[1], self.report, best[1], node, best[2], None, manual)

    def _call(self, node: ast.Call, scope: Scope) -> None:
        func = node.func
        index = self.index
        attr = func.attr if type(func) is ast.Attribute else None
        if attr is not None:
            methods = index.methods.get(attr)
            if methods:
                # Point at `.cuda()`, not at the start of a long receiver expression.
                attr_start = (func.end_lineno, func.end_col_offset - len(attr))
                for rule, m in methods:
                    if m.receiver_regex is not None and not m.receiver_regex.search(last_name(func.value)):
                        continue
                    if not self._is_namespace(func.value, scope):
                        self._guard(rule, self.report, rule, node, attr, attr_start)
            if attr == "startswith" and node.args:
                for rule, m in index.compares:
                    self._guard(rule, self._compare_operand, rule, m, node, node.args[0], scope)
        calls = index.calls
        if calls:
            # The call matchers this call is for: by callee name, or by method on a value (not a namespace).
            hits: set[int] = set()
            if attr is not None:
                by_method = index.method_calls(attr)
                if by_method and not self._is_namespace(func.value, scope):
                    hits.update(by_method)
            for q in self._qualified(func, scope):
                hits |= index.callee_matches(q)
            for i in sorted(hits) if hits else ():  # in catalogue order, as one matcher may claim what a later one sees
                rule, m = calls[i]
                self._guard(rule, self._call_argument, rule, m, node, scope)
            if node.args:
                self._partial_call(node, scope)
        for kw in node.keywords:
            for rule, m in index.keywords.get(kw.arg, ()):
                self._guard(rule, self._keyword, rule, m, node, kw, scope)

    def _partial_call(self, node: ast.Call, scope: Scope) -> None:
        """`partial(autocast, "cuda", enabled=False)` is the call `autocast("cuda", enabled=False)` made
        later: its arguments are checked as that call's (autocast only, whose fix rewrites the partial)."""
        if not node.args or isinstance(node.args[0], ast.Starred) \
                or "functools.partial" not in self._qualified(node.func, scope):
            return
        inner = ast.Call(func=node.args[0], args=node.args[1:], keywords=node.keywords)
        hits: set[int] = set()
        for q in self._qualified(node.args[0], scope):
            hits |= self.index.callee_matches(q)
        for i in sorted(hits):
            rule, m = self.index.calls[i]
            if m.value != "absent" and rule.transforms == {"autocast"}:
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
            names = self._qualified(func, scope)
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
                        and best[1].transforms == {"guard-import"}:
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
        if type(node) is ast.Constant and type(node.value) is str and _PLAIN_TEXT.fullmatch(node.value):
            text = f"'{node.value}'"  # what unparse writes for it (`device="cuda"` is reported often)
            return text if len(text) <= 60 else text[:57] + "..."
        try:
            text = ast.unparse(node)
        except Exception:  # unparse has gaps on some node kinds
            return type(node).__name__
        return text if len(text) <= 60 else text[:57] + "..."


# Text whose string literal `ast.unparse` writes between single quotes, as it is: printable ASCII
# without quotes or backslashes.
_PLAIN_TEXT = re.compile(r"[ !#-&(-\[\]-~]*")


def _mapping_reason(value: ast.AST) -> str:
    # `map_location={"cuda:1": "cuda:0"}`: location tags map to location tags, not to devices.
    return "a mapping of device names needs its own new names" if isinstance(value, ast.Dict) else ""


def _own_value_kept(rule: Rule, call: ast.Call) -> str:
    """Why the port marks rather than fixes a site: its safe `keywords` fix would set a keyword the
    call passes an expression of the program's own (`backend=BACKEND`), which a safe fix keeps
    (porter.rewrite.keyword_edits.keywords_transform). "" when it does not."""
    if not call.keywords:
        return ""
    keys = {key for fix in rule.fixes.values() if fix.transform == "keywords" and fix.applicability == "safe"
            for key in fix.set}
    for kw in call.keywords if keys else ():
        if kw.arg in keys and not isinstance(kw.value, ast.Constant):
            text = ast.unparse(kw.value)
            if "_porter_" not in text:  # what an earlier port wrote is porter's, not the program's
                return f"`{kw.arg}={text}` is the program's own value, kept"
    return ""


def is_package_rule(rule: Rule) -> bool:
    return not rule.transforms.isdisjoint(PACKAGE_TRANSFORMS)


def _compared_strings(node: ast.Compare) -> list[ast.AST]:
    """The string operands of a comparison, and the strings of a literal list, tuple or set that a
    name is tested for membership in (`device_type in ["cuda", "cpu"]` is `== "cuda" or == "cpu"`)."""
    found = [o for o in (node.left, *node.comparators) if string_value(o) is not None]
    for op, right in zip(node.ops, node.comparators, strict=True):
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple, ast.Set)) \
                and right.elts and all(string_value(e) is not None for e in right.elts):
            found.extend(right.elts)
    return found


def _judged_as_call(rule: Rule, qualnames: set[str] | list[str]) -> bool:
    """Does the rule have a call matcher for this callee (its arguments decide, not the name)?"""
    return any(m.kind == "call" and m.callee and any(glob_match(q, m.callee) for q in qualnames)
               for m in rule.matchers)
