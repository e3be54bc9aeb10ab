"""Qualified-name resolution over Python's ast, scope by scope.

A name bound by an import resolves to what it imports (`import torch.cuda as tc` makes `tc` mean
`torch.cuda`); a name bound by anything else in the scope that sees it (assignment, parameter,
loop variable, def, class) is a local value with no qualified name. Python's scoping is
flow-insensitive inside a function, so one pass over a scope's own statements gives its bindings.
Bindings are computed lazily: only the scopes that contain something worth matching pay for it.
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Iterator

from porter.source.astwalk import child_nodes, node_fields

SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
               ast.SetComp, ast.DictComp, ast.GeneratorExp)

# Marks a name bound locally by something other than an import.
LOCAL = None
# Statements that bind nothing when the source holds no `:=`, and the definitions that bind their name.
_NO_BINDING = frozenset({ast.Expr, ast.Return, ast.Raise, ast.Assert, ast.Pass, ast.Break, ast.Continue})
_DEFINITIONS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_COMPOUND = frozenset({ast.If, ast.While, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.Try})


class Scope:
    def __init__(self, node: ast.AST, parent: Scope | None, *, walrus_lines: list[int] | None = None,
                 importing_calls: bool = True) -> None:
        """`walrus_lines`, when known, are the sorted numbers of the source lines that spell `:=`
        (a nested scope inherits them): a statement on none of them binds no name inside its
        expressions, so the collection skips those (see `_collect_statements`). `importing_calls`:
        False when the source spells no call that imports a module by name (`IMPORTING_CALLS`), so
        no assignment needs looking at for one (inherited too)."""
        self.node = node
        self.parent = parent
        self.walrus_lines = walrus_lines if parent is None else parent.walrus_lines
        self.importing_calls = importing_calls if parent is None else parent.importing_calls
        self.is_class = isinstance(node, ast.ClassDef)
        self._bindings: dict[str, set[str] | None] | None = None
        self._globals: set[str] = set()
        self._nonlocals: set[str] = set()
        # Names bound by a plain `import` statement: always modules, never values.
        self.module_names: set[str] = set()

    @property
    def bindings(self) -> dict[str, set[str] | None]:
        if self._bindings is None:
            self._bindings = {}
            self._collect()
        return self._bindings

    # -- binding collection -------------------------------------------------------------------

    def _bind_local(self, name: str) -> None:
        # An import binding wins over other bindings of the same name (try/except ImportError
        # fallbacks assign None to the imported name; the import is what matters for porting).
        self._bindings.setdefault(name, LOCAL)

    def _bind_import(self, name: str, qualname: str, module: bool = False) -> None:
        if module:
            self.module_names.add(name)
        current = self._bindings.get(name)
        if current is None:
            self._bindings[name] = {qualname}
        else:
            current.add(qualname)

    def _collect(self) -> None:
        node = self.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    self._bind_local(arg.arg)
            body = [node.body] if isinstance(node, ast.Lambda) else node.body
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for comp in node.generators:
                self._bind_targets(comp.target)
            return
        else:
            body = node.body
        if self.walrus_lines is not None and not isinstance(node, ast.Lambda):
            self._collect_statements(body)
        else:
            self._collect_nodes(list(body))
        for name in self._globals | self._nonlocals:
            self._bindings.pop(name, None)

    def _collect_statements(self, body: list[ast.stmt]) -> None:
        """The bindings of a block, statement by statement.

        Without an assignment expression (`:=`), a name is bound inside an expression only by a
        lambda or a comprehension, which are scopes of their own; so only statements, their targets
        and their blocks need looking at, not the expressions that make up most of a tree. The
        result is the one `_collect_nodes` finds walking every node; a statement spanning a line
        with `:=`, and statements of other kinds, go to it."""
        walrus_lines = self.walrus_lines
        stack = list(body)
        while stack:
            child = stack.pop()
            kind = type(child)
            if walrus_lines and _spans_any(child, walrus_lines):
                if kind in _COMPOUND:
                    self._collect_compound(child, stack)
                else:
                    self._collect_nodes([child])
            elif kind in _NO_BINDING:
                continue
            elif kind is ast.Assign:
                module = _imported_module(child) if self.importing_calls else None
                if module is not None:
                    self._bind_import(child.targets[0].id, module, module=True)
                for target in child.targets:
                    self._bind_stored(target)
            elif kind is ast.AugAssign or kind is ast.AnnAssign:
                self._bind_stored(child.target)
            elif kind is ast.If or kind is ast.While:
                stack.extend(child.body)
                stack.extend(child.orelse)
            elif kind is ast.For or kind is ast.AsyncFor:
                self._bind_stored(child.target)
                stack.extend(child.body)
                stack.extend(child.orelse)
            elif kind is ast.With or kind is ast.AsyncWith:
                for item in child.items:
                    if item.optional_vars is not None:
                        self._bind_stored(item.optional_vars)
                stack.extend(child.body)
            elif kind is ast.Try:
                for handler in child.handlers:
                    if handler.name:
                        self._bind_local(handler.name)
                    stack.extend(handler.body)
                stack.extend(child.body)
                stack.extend(child.orelse)
                stack.extend(child.finalbody)
            elif kind is ast.Delete:
                for target in child.targets:
                    self._bind_stored(target)
            elif kind in _DEFINITIONS:
                self._bind_local(child.name)  # decorators and defaults are expressions: nothing bound
            else:  # imports, global/nonlocal, match, and whatever a newer Python adds
                self._collect_nodes([child])

    def _collect_compound(self, node: ast.stmt, stack: list[ast.stmt]) -> None:
        """A compound statement spanning a `:=`: its own expressions (test, iterator, targets,
        context managers, exception types) walked whole, its blocks left to the statement walk."""
        for name in node_fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is not list:
                if value is not None:
                    self._collect_nodes([value])
            elif value and isinstance(value[0], ast.stmt):
                stack.extend(value)
            elif value and isinstance(value[0], ast.excepthandler):
                for handler in value:  # as _collect_nodes would, but its body statement by statement
                    if handler.name:
                        self._bind_local(handler.name)
                    if handler.type is not None:
                        self._collect_nodes([handler.type])
                    stack.extend(handler.body)
            else:
                self._collect_nodes(list(value))

    def _bind_stored(self, target: ast.AST) -> None:
        """The names an assignment target binds: `a`, `a, *b`, `[a, (b, c)]`; never the names read
        in `a.b` or `a[i]` (without `:=`, nothing inside those binds)."""
        kind = type(target)
        if kind is ast.Name:
            self._bind_local(target.id)
        elif kind is ast.Tuple or kind is ast.List:
            for element in target.elts:
                self._bind_stored(element)
        elif kind is ast.Starred:
            self._bind_stored(target.value)
        elif kind is not ast.Attribute and kind is not ast.Subscript:
            self._collect_nodes([target])

    def _collect_nodes(self, stack: list[ast.AST]) -> None:
        while stack:
            child = stack.pop()
            if isinstance(child, ast.Assign) and self.importing_calls \
                    and (module := _imported_module(child)) is not None:
                self._bind_import(child.targets[0].id, module, module=True)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.asname:
                        self._bind_import(alias.asname, alias.name, module=True)
                    else:
                        head = alias.name.split(".", 1)[0]
                        self._bind_import(head, head, module=True)
            elif isinstance(child, ast.ImportFrom):
                for alias in child.names:
                    if alias.name == "*":
                        continue
                    bound = alias.asname or alias.name
                    if child.level or not child.module:
                        self._bind_local(bound)  # relative import: the user's own package
                    else:
                        self._bind_import(bound, f"{child.module}.{alias.name}")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._bind_local(child.name)
                # Decorators and defaults run in this scope; the body does not.
                stack.extend(child.decorator_list)
                if not isinstance(child, ast.ClassDef):
                    stack.extend(d for d in (*child.args.defaults, *child.args.kw_defaults) if d)
            elif isinstance(child, ast.Global):
                self._globals.update(child.names)
            elif isinstance(child, ast.Nonlocal):
                self._nonlocals.update(child.names)
            elif isinstance(child, SCOPE_NODES):
                continue
            else:
                if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                    self._bind_local(child.id)
                elif isinstance(child, ast.ExceptHandler) and child.name:
                    self._bind_local(child.name)
                elif isinstance(child, ast.alias):
                    continue
                elif isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
                    self._bind_local(child.name)
                stack.extend(child_nodes(child))

    def _bind_targets(self, target: ast.AST) -> None:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                self._bind_local(sub.id)

    # -- lookup ---------------------------------------------------------------------------------

    def lookup(self, name: str) -> set[str] | None:
        """Qualified names a bare name may refer to here; None when local or unknown."""
        scope = self.binding_scope(name)
        return scope.bindings[name] if scope is not None else None

    def binding_scope(self, name: str) -> Scope | None:
        """The scope whose binding of `name` is visible here, or None."""
        self.bindings  # noqa: B018 - fills _globals / _nonlocals too
        if name in self._globals:
            module = self.module_scope()
            return module if name in module.bindings else None
        scope: Scope | None = self
        first = True
        while scope is not None:
            # Class bodies are visible only to code directly inside them.
            if (first or not scope.is_class) and name in scope.bindings:
                return scope
            first = False
            scope = scope.parent
        return None

    def is_module(self, name: str) -> bool:
        scope = self.binding_scope(name)
        return scope is not None and name in scope.module_names

    def module_scope(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope


# Calls that import a module by name and return it: `torch = pytest.importorskip("torch")`.
IMPORTING_CALLS = frozenset({"importorskip", "import_module"})


def _imported_module(assign: ast.Assign) -> str | None:
    """The module `name = pytest.importorskip("mod")` or `importlib.import_module("mod")` binds
    `name` to, like `import mod as name`; None for any other assignment."""
    value = assign.value
    if len(assign.targets) != 1 or type(assign.targets[0]) is not ast.Name or type(value) is not ast.Call \
            or not value.args or type(value.args[0]) is not ast.Constant:
        return None
    func = value.func
    called = func.attr if type(func) is ast.Attribute else func.id if type(func) is ast.Name else None
    module = value.args[0].value
    if called not in IMPORTING_CALLS or not isinstance(module, str) or not module or module.startswith("."):
        return None
    return module


def _spans_any(stmt: ast.stmt, lines: list[int]) -> bool:
    """Does the statement (with its decorators) span one of these sorted line numbers?"""
    start = stmt.lineno
    for decorator in getattr(stmt, "decorator_list", ()):
        start = min(start, decorator.lineno)
    i = bisect.bisect_left(lines, start)
    return i < len(lines) and lines[i] <= (stmt.end_lineno or stmt.lineno)


def dotted_parts(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ['a', 'b', 'c']; None when the chain does not start at a bare name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def qualified_names(node: ast.AST, scope: Scope) -> set[str]:
    """The qualified names an attribute chain or name may refer to (empty when unknown)."""
    parts = dotted_parts(node)
    if not parts:
        return set()
    heads = scope.lookup(parts[0])
    if not heads:
        return set()
    rest = ".".join(parts[1:])
    return {f"{head}.{rest}" if rest else head for head in heads}


def import_targets(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[ast.alias, str]]:
    """Each imported alias with the qualified name it imports."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias, alias.name
    elif not node.level and node.module:
        for alias in node.names:
            if alias.name != "*":
                yield alias, f"{node.module}.{alias.name}"
        if all(alias.name == "*" for alias in node.names):
            yield node.names[0], node.module
