"""The shapes of code the device-test gates (porter.source.gates) look for: dotted names, kernel
launches, another backend's check, a test's bound name, the swapped imports."""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Iterable

from porter.source.astwalk import reaching, statements, walk
from porter.source.rule_index import hit_lines, word_lines

# A kernel launch `k[grid](...)`: between the subscript's `]` and the call's `(` only spaces, closing
# parentheses, line continuations and comments can stand. A text without this holds no launch.
LAUNCH_TEXT = re.compile(r"\][\s)\\]*(?:#[^\n]*\n[\s)\\]*)*\(")
OTHER_BACKENDS = ("mps", "xpu", "npu", "hpu", "mlu", "musa")

def dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def other_backend_check(node: ast.AST) -> bool:
    for sub in walk(node):
        if isinstance(sub, ast.Call) and dotted(sub.func).endswith(".is_available"):
            if any(part in OTHER_BACKENDS for part in dotted(sub.func).split(".")[:-1]):
                return True
    return False


def span(nodes: Iterable[ast.AST]) -> tuple[tuple[int, int], tuple[int, int]]:
    nodes = list(nodes)
    first, last = nodes[0], nodes[-1]
    start = min([(first.lineno, first.col_offset + 1)]
                + [(d.lineno, d.col_offset + 1) for d in getattr(first, "decorator_list", ())])
    return start, (last.end_lineno or last.lineno, (last.end_col_offset or 0) + 1)


def launches(tree: ast.Module, source: str) -> list[int]:
    """The lines of the calls `k[grid](...)` in the tree (see launch_calls)."""
    return [call.lineno for call in launch_calls(tree, source)]


def launch_calls(tree: ast.Module, source: str) -> list[ast.Call]:
    """The calls `k[grid](...)` in the tree, the candidate kernel launches. A launch holds its `]...(`
    text, so only the nodes whose lines (decorators included) reach a line where that text starts can
    hold one: the walk goes down those alone."""
    marks = hit_lines(source, LAUNCH_TEXT)
    return [node for node in reaching(tree, marks)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript)]


# Packages whose kernels are launched as `kernel[grid](...)` (Triton) or `kernel[blocks, threads](...)`
# (Numba's CUDA target, and the like).
KERNEL_LANGUAGES = frozenset({"triton", "numba", "cupy", "cupyx", "warp", "pycuda"})
# Callables whose result is a container: `table[key](...)` on one is a lookup, not a launch.
CONTAINER_CALLS = frozenset({"dict", "list", "tuple", "OrderedDict", "defaultdict", "ModuleList", "ModuleDict",
                             "Sequential", "ParameterList", "ParameterDict"})
CONTAINER_NODES = (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def container(value: ast.AST) -> bool:
    """A value that is a container: a literal, a comprehension, or a call of a container's class."""
    if isinstance(value, CONTAINER_NODES):
        return True
    return isinstance(value, ast.Call) and dotted(value.func).rsplit(".", 1)[-1] in CONTAINER_CALLS


def root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def self_key(node: ast.AST) -> str | None:
    """`name` or `self.attr`: how an assignment target or a subscripted value is looked up."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return f"self.{node.attr}"
    return None


class Bindings:
    """What the launch check asks of a tree: does it import a kernel language, the values assigned
    to each name and `self.<attribute>` (both from its statements), and does it bind a name
    (imports, definitions, parameters, assignment and loop targets, `global`)."""

    def __init__(self, tree: ast.Module, source: str | None = None) -> None:
        """`source`, when given, is the tree's text: a binding spells its name, so whether a name is
        bound is looked for only in the statements on the lines that spell it, not the whole tree."""
        self.tree = tree
        self.source = source
        self.language = False
        self.values: dict[str, list[ast.AST]] = {}
        for node in statements(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""] if not node.level else []
                else:
                    modules = [alias.name for alias in node.names]
                self.language = self.language or any(m.split(".")[0] in KERNEL_LANGUAGES for m in modules)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    key = self_key(target)
                    if key is not None:
                        self.values.setdefault(key, []).append(node.value)
        self._all: set[str] | None = None
        self._known: dict[str, bool] = {}
        self._normalized: bool | None = None

    def binds(self, name: str) -> bool:
        known = self._known.get(name)
        if known is None:
            if self.source is None or not self._spelled_as_stored(name):
                if self._all is None:
                    self._all = set()
                    for node in walk(self.tree):
                        self._all.update(_bound_names(node))
                known = name in self._all
            else:
                known = self._binds_on(name, word_lines(self.source, (name,)))
            self._known[name] = known
        return known

    def _spelled_as_stored(self, name: str) -> bool:
        """Is every identifier of the text spelled as the tree stores it? Python stores a name in its
        NFKC form (`ﬁ` as `fi`): in a text NFKC leaves as it is, a name is found by its own letters."""
        if self._normalized is None:
            self._normalized = self.source is not None and unicodedata.is_normalized("NFKC", self.source)
        return self._normalized and name.isascii()

    def _binds_on(self, name: str, lines: list[int]) -> bool:
        return any(name in _bound_names(node) for node in reaching(self.tree, lines))


def _bound_names(node: ast.AST) -> tuple[str, ...] | list[str]:
    """The names one node binds."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (node.name,)
    if isinstance(node, ast.arg):
        return (node.arg,)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return (node.id,)
    if isinstance(node, ast.Global):
        return node.names
    return ()


def imports_outside_torch(tree: ast.Module) -> dict[str, str]:
    """Names bound by imports of packages other than torch: name -> the module it names."""
    imported: dict[str, str] = {}
    for node in statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return {k: v for k, v in imported.items() if v.split(".")[0] != "torch"}


def is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def bound_name(node: ast.AST, assign: ast.Assign, parents: dict[int, ast.AST]) -> str | None:
    """The name the test's value is bound to: `a = test`, or its place in `x, a, d = *s, test, dev`."""
    if len(assign.targets) != 1:
        return None
    target, value = assign.targets[0], assign.value
    if value is node:
        return target.id if isinstance(target, ast.Name) else None
    if parents.get(id(node)) is not value or not isinstance(value, ast.Tuple) or not isinstance(target, ast.Tuple):
        return None
    elements, names = value.elts, target.elts
    at = elements.index(node)
    starred = [i for i, e in enumerate(elements) if isinstance(e, ast.Starred)]
    if any(isinstance(n, ast.Starred) for n in names) or (starred and len(starred) > 1):
        return None
    if starred and starred[0] < at:  # count from the end, past the unpacked part
        at = len(names) - (len(elements) - at)
    elif not starred and len(names) != len(elements):
        return None
    bound = names[at] if 0 <= at < len(names) else None
    return bound.id if isinstance(bound, ast.Name) else None


def answers(test: ast.If) -> bool:
    """`if <test>: return False`: the test decides a yes/no answer of its function."""
    answer = test.body[0].value if len(test.body) == 1 and isinstance(test.body[0], ast.Return) else None
    return isinstance(answer, ast.Constant) and isinstance(answer.value, bool)


def calls(test: ast.expr, name: str) -> bool:
    """`name(...)` or `not name(...)`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    return isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == name


def swapped_import(node: ast.Import | ast.ImportFrom, alias: ast.alias, swapped: set[str]) -> bool:
    """Does the port swap this imported name for porter's drop-in (porter.rewrite.import_split's
    `split_swap_import`: `from flash_attn import flash_attn_func`, `import flash_attn [as fa]`)?"""
    if isinstance(node, ast.ImportFrom):
        return not node.level and f"{node.module}.{alias.name}" in swapped
    return alias.name in swapped and (alias.asname is not None or "." not in alias.name)


def swapped_names(rules) -> set[str]:
    """The qualified names every target's port swaps for porter's drop-in (`swap-import` fixes):
    an import of one of them is no CUDA-only kernel after the port."""
    return {name for rule in rules if rule.fixes and all(
        fix.transform == "swap-import" and fix.available for fix in rule.fixes.values())
        for name in rule.names_exact}
