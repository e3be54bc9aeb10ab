"""Names that choose an implementation, not a device: `impl in ["ref", "cuda"]`.

A name compared with the name of an implementation that is no device's (`impl == "ref"`,
`backend in ("triton", "cuda")`) holds a choice among implementations, and "cuda" there means "the
CUDA kernels", not a device to move data to. Rewriting it as a device (`impl="cuda"` -> `str(_porter_device())`, the
comparisons -> "neuron") breaks the program: its own check `assert impl in ["ref", "cuda"]` fails
on the CPU name the port's default now gives, and on Neuron the CUDA kernels are chosen. Such a
name keeps its strings: a Neuron tensor then takes the reference path, as a CPU tensor does.
"""

from __future__ import annotations

import ast
import re

from porter.source.astwalk import child_nodes, reaching
from porter.source.predicates import string_value

# Names of implementations that are not a device's: a name compared with one of these (besides
# "cuda") chooses code paths. Kept short on purpose: device names are many and open-ended (`mlx`,
# `metal`, `sequential` device maps), so a name is taken for a chooser only on such a word.
IMPLEMENTATION_WORDS = frozenset({
    "ref", "reference", "torch", "pytorch", "python", "numpy", "naive", "native", "fallback", "slow",
    "triton", "cpp", "eager", "math",
})


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
# A quoted implementation word: only a statement that spells one can make a name a chooser.
_WORDS = "|".join(sorted(IMPLEMENTATION_WORDS))
_QUOTED_WORD = re.compile(rf"""(["'])\s*(?:{_WORDS})\s*\1""", re.IGNORECASE)


def names_an_implementation(text: str) -> bool:
    return text.strip().lower() in IMPLEMENTATION_WORDS


def _quoted_word_lines(source: str) -> list[int]:
    """The 1-based lines a quoted implementation word (`"ref"`, `'torch'`) stands on, all of them
    when its quotes span lines."""
    lines: list[int] = []
    line, last = 1, 0
    for match in _QUOTED_WORD.finditer(source):
        line += source.count("\n", last, match.start())
        last = match.start()
        end = line + source.count("\n", match.start(), match.end())
        lines.extend(n for n in range(line, end + 1) if not lines or n > lines[-1])
    return lines


def _seeded(tree: ast.AST, lines: list[int]) -> bool:
    """Does some name of the tree take an implementation word: compared with one, assigned one, or
    given one as a parameter's default? Such a string stands on one of `lines` (its quoted text), so
    only the nodes reaching those lines are walked: most files that quote a word (`"torch"` in a
    message) bind no name to it, and their whole tree need not be walked."""
    for node in reaching(tree, lines):
        if isinstance(node, ast.Compare):
            subject, strings = _compared(node)
            if subject is not None and _key(subject, node) is not None \
                    and any(names_an_implementation(string_value(s) or "") for s in strings):
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_key(t, node) is not None for t in targets) \
                    and any(names_an_implementation(string_value(s) or "") for s in _values(node.value)):
                return True
        elif isinstance(node, _SCOPES):
            args = node.args
            if any(names_an_implementation(string_value(s) or "")
                   for d in [*args.defaults, *args.kw_defaults] if d is not None for s in _values(d)):
                return True
    return False


def _key(node: ast.AST, scope: ast.AST) -> tuple[int, str] | None:
    """`impl` in its function; `self.impl`, `args.impl` by their text in the whole file."""
    if isinstance(node, ast.Name):
        return id(scope), node.id
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if parts and isinstance(node, ast.Name):
        return 0, ".".join([node.id, *reversed(parts)])
    return None


def _compared(node: ast.Compare) -> tuple[ast.AST | None, list[ast.AST]]:
    """The subject of `subject == "s"`, `subject in ["a", "b"]` (one operator) and its strings."""
    if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
        return None, []
    left, right = node.left, node.comparators[0]
    if string_value(right) is not None and string_value(left) is None:
        return left, [right]
    if string_value(left) is not None and string_value(right) is None and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
        return right, [left]
    if isinstance(node.ops[0], (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple, ast.Set)) \
            and right.elts and all(string_value(e) is not None for e in right.elts):
        return left, list(right.elts)
    return None, []


def _values(node: ast.AST) -> list[ast.AST]:
    """The strings an assigned value can be: `"cuda"`, `"cuda" if fast else "ref"`."""
    if string_value(node) is not None:
        return [node]
    if isinstance(node, ast.IfExp):
        return _values(node.body) + _values(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [s for v in node.values for s in _values(v)]
    return []


class Selectors:
    """The implementation-choosing names of one tree: their comparisons and the strings bound to them."""

    def __init__(self, tree: ast.AST, source: str | None = None) -> None:
        """`source`, when given, is the tree's text: a tree where no name takes a quoted implementation
        word is not walked (a word spelled otherwise, `"re" "f"`, is not seen then)."""
        self.compares: set[int] = set()
        self.strings: set[int] = set()
        # compare id -> whether it asks "is the CUDA implementation chosen" (`impl == "cuda"`)
        self.cuda_choice: set[int] = set()
        if source is not None and not _seeded(tree, _quoted_word_lines(source)):
            return  # no name chooses: the whole tree need not be walked
        compares: list[tuple[ast.Compare, tuple[int, str], list[ast.AST]]] = []
        bindings: list[tuple[tuple[int, str], list[ast.AST]]] = []
        chosen: set[tuple[int, str]] = set()
        # `upfirdn2d(x, f, impl=impl)`: a name handed on to a parameter of a function of this file
        handed: list[tuple[str, str, tuple[int, str]]] = []
        defined: dict[str, list[int]] = {}
        stack: list[tuple[ast.AST, ast.AST]] = [(tree, tree)]
        while stack:
            node, scope = stack.pop()
            if isinstance(node, ast.Compare):
                subject, strings = _compared(node)
                key = _key(subject, scope) if subject is not None else None
                if key is not None:
                    compares.append((node, key, strings))
                    if any(names_an_implementation(string_value(s) or "") for s in strings):
                        chosen.add(key)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    key = _key(target, scope)
                    if key is not None:
                        bindings.append((key, _values(node.value)))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                for kw in node.keywords:
                    key = _key(kw.value, scope) if kw.arg and isinstance(kw.value, ast.Name) else None
                    if key is not None:
                        handed.append((node.func.id, kw.arg, key))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defined.setdefault(node.name, []).append(id(node))
            if isinstance(node, _SCOPES):
                args = node.args
                positional = [*args.posonlyargs, *args.args]
                pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
                bindings += [((id(node), a.arg), _values(d)) for a, d in pairs]
            inner = node if isinstance(node, _SCOPES) else scope
            stack.extend((child, inner) for child in child_nodes(node))
        for key, strings in bindings:  # `impl = "cuda" if fast else "torch"`: one value or the other
            if any(names_an_implementation(string_value(s) or "") for s in strings):
                chosen.add(key)
        grown = True
        while grown:  # a parameter that is handed on to a chooser's parameter chooses too
            grown = False
            for func, arg, key in handed:
                if key not in chosen and any((f, arg) in chosen for f in defined.get(func, ())):
                    chosen.add(key)
                    grown = True
        for node, key, strings in compares:
            if key in chosen:
                self.compares.add(id(node))
                self.strings.update(id(s) for s in strings)
                if isinstance(node.ops[0], ast.Eq) and any("cuda" in (string_value(s) or "") for s in strings):
                    self.cuda_choice.add(id(node))
        for key, strings in bindings:
            if key in chosen:
                self.strings.update(id(s) for s in strings)
