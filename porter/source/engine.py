"""The matching engine's entry: one parse of a file, every rule's matchers over it.

Speed comes from three things. A file is parsed only when it contains one of the catalogue's
tokens (found, with their lines, in one pass of an Aho-Corasick automaton). It is parsed with
CPython's own `ast` (C speed; libcst is reserved for the files that port rewrites). And only the
statements whose lines contain a token are walked, so a 10,000-line file with one `.cuda()` costs
one parse and a short walk.

The parts: porter.source.rule_index (the rules indexed, the token line scan), .analysis (the walk
and dispatch of one file), .matching (the matchers per node kind), .site_context (where a node
stands), .suppressions (the `# noqa` / `# porter: ignore` comments applied).
"""

from __future__ import annotations

import ast
import bisect
import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from porter.source.analysis import Analysis
from porter.source.astwalk import BLOCK_FIELDS, HOLDS_BLOCKS
from porter.source.findings import SYNTAX_ERROR, Finding
from porter.source.rule_index import RuleIndex, word_lines
from porter.source.suppressions import mark_suppressed


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


_IMPORTS_OR_BLOCKS = HOLDS_BLOCKS | {ast.Import, ast.ImportFrom}


def import_aliases(tree: ast.Module, hits: list[int], tokens: tuple[str, ...]) -> set[str]:
    """Names bound by imports on token lines that do not spell a token themselves.

    `import torch.cuda as tc` puts "cuda" on its own line only; every later `tc.synchronize()`
    must count as a token line too, or the walk would skip it.
    """
    aliases: set[str] = set()
    # only imports and the statements holding blocks are looked at (not the simple statements, most of them)
    stack = list(_overlapping([n for n in tree.body if type(n) in _IMPORTS_OR_BLOCKS], hits))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".", 1)[0]
                if bound != "*" and not any(t in bound for t in tokens):
                    aliases.add(bound)
            continue
        for name in BLOCK_FIELDS:
            block = getattr(node, name, None)
            if block:
                stack.extend(_overlapping([n for n in block if type(n) in _IMPORTS_OR_BLOCKS], hits))
    return aliases


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
                   hits: list[int] | None = None, keep_tree: list | None = None) -> list[Finding]:
    """Every finding of the indexed rules in one Python source, suppressions marked. `hits`, when
    given, are the lines of the source that hold a token (`index.token_lines`), found by the caller
    in the file's bytes. `keep_tree`: when given, the parsed tree is appended to it (the port cuts
    the file with it)."""
    if index.token_regex is None:
        return []
    if hits is None:
        hits = index.token_lines(source)
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
    analysis = Analysis(source, path, index, cell)
    analysis.run(tree, hits)
    return mark_suppressed(analysis.findings, source, tree)


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
