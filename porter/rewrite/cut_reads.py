"""What the cut units of a file read (porter.rewrite.narrow): the import-bound names and attribute
chains each placeholder lists, so the port's check for imports it left unused sees them, before the
port and after it (a line ported apart reads what its ported text reads); and the imports inside
functions a line ported apart reads, which the cut keeps."""

from __future__ import annotations

import ast
import re
import unicodedata
from bisect import bisect_right
from itertools import accumulate

from porter.source.astwalk import HOLDS_BLOCKS, statements, walk
from porter.source.names import dotted_parts
from porter.source.rule_index import next_word_start

# (first line, last line, the nodes it stands for, its placeholder's form)
Cut = tuple[int, int, list[ast.AST], str]
_WORD = re.compile(r"[^\W\d]\w*")
_WORD_ONLY = re.compile(r"\w+")


def imports_read_apart(tree: ast.Module, apart: dict[int, str], lines: list[str]) -> list[int]:
    """The lines of the imports inside functions and blocks that bind a name a line ported apart
    reads (its words, a superset): kept like a site, so the port's check for imports it left
    unused sees them (a cut function is spliced back as it was, imports and all)."""
    nested: dict[str, list[ast.stmt]] = {}
    top = set(map(id, tree.body))
    for stmt in statements(tree):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) and id(stmt) not in top:
            for alias in stmt.names:
                nested.setdefault((alias.asname or alias.name).split(".")[0], []).append(stmt)
    if not nested:
        return []
    words = {word for line in apart for word in _WORD.findall(lines[line - 1])}
    return [line for name in words & nested.keys() for stmt in nested[name]
            for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)]


class _Holder:
    """A function with imports of its own (not its nested definitions'): the check for imports the
    port left unused counts such an import's reads in that function alone (porter.rewrite.imports),
    so what its cuts read is listed apart from the rest of the file."""

    def __init__(self, node: ast.AST, names: set[str]) -> None:
        self.start, self.end = node.lineno, node.end_lineno or node.lineno
        self.names = names  # the names its imports bind (and their heads)


def _holders(tree: ast.Module) -> list[_Holder]:
    holders: list[_Holder] = []
    imports = (ast.Import, ast.ImportFrom)
    if sum(isinstance(s, imports) for s in statements(tree)) == sum(isinstance(s, imports) for s in tree.body):
        return holders  # every import is at the top level: no function has one of its own

    def visit(body: list[ast.stmt], names: set[str] | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                own: set[str] = set()
                visit(stmt.body, own)
                if own:
                    holders.append(_Holder(stmt, own))
            elif isinstance(stmt, ast.ClassDef):
                visit(stmt.body, None)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                if names is not None:
                    for alias in stmt.names:
                        bound = alias.asname or alias.name
                        names.update((bound, bound.split(".")[0]))
            elif type(stmt) in HOLDS_BLOCKS:  # a simple statement holds no import
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, field, None) or [], names)
                for holder in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
                    visit(holder.body, names)

    visit(tree.body, None)
    return holders


def reads_by_unit(tree: ast.Module, cuts: list[Cut], lines: list[str],
                  ported: dict[int, list[ast.AST]]) -> tuple[list[list[str]], list[list[str]]]:
    """For each cut, the import-bound names and attribute chains it reads (deduplicated): what the
    port's check for imports it left unused must still see; before the port, and after it, when a
    line ported apart reads what its ported text reads (`ported`: its Name and Attribute nodes). A
    cut fills its lines alone, so a name starting on one of them is the cut's. Without dotted
    imports (whose every chain is listed) only cuts whose lines spell an imported name are walked,
    and the walk ends once every name that could be read is listed."""
    imported: set[str] = set()
    for stmt in statements(tree):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:  # `np`, `F`, and `a.b` (with `a`) for `import a.b`
                bound = alias.asname or alias.name
                imported.update((bound, bound.split(".")[0]))
    if not imported:
        return [[] for _ in cuts], [[] for _ in cuts]
    dotted = tuple(k + "." for k in imported if "." in k)
    wanted: set[str] | None = None  # the names the cuts' lines spell: none other can be listed
    spelling: set[int] | None = None  # the cuts (by index) whose lines spell one; None: every cut is walked
    # A name is spelled as the tree stores it unless NFKC changes the text (`ﬁ` is stored as `fi`).
    text = "".join(lines)
    if unicodedata.is_normalized("NFKC", text):
        found_names, spelling = _spelled_in_cuts(text, lines, cuts, {k for k in imported if "." not in k})
        if not dotted:
            wanted = found_names | {node.id for nodes in ported.values() for node in nodes
                                    if isinstance(node, ast.Name)}
            wanted &= imported
    holders = sorted(_holders(tree), key=lambda h: h.start)
    # The check asks only whether a name is still read somewhere (or somewhere in the function
    # whose own import binds it): each is listed once there, by the first cut that reads it.
    before, after = _Listing(imported, dotted), _Listing(imported, dotted)
    active: list[_Holder] = []  # the functions open where the cut starts (cuts come in order, apart)
    waiting = 0
    for number, (start, end, nodes, _) in enumerate(cuts):
        while waiting < len(holders) and holders[waiting].start < start:
            active.append(holders[waiting])
            waiting += 1
        active = [h for h in active if h.end >= start]
        around = [h for h in active if end <= h.end]  # a cut from start on holds h
        if wanted is not None and before.has(wanted, around) and after.has(wanted, around):
            before.nothing()
            after.nothing()
            continue
        kept, old, new = _Reads(), _Reads(), _Reads()  # on other lines; on ported lines, before; after
        for line in range(start, end + 1):
            for node in ported.get(line, ()):
                new.add(node)
        if spelling is None or number in spelling:
            for top in nodes:
                for node in walk(top):
                    if isinstance(node, (ast.Name, ast.Attribute)):
                        (old if node.lineno in ported else kept).add(node)
                if wanted is not None and before.has(wanted, around, kept.names | old.names) \
                        and after.has(wanted, around, kept.names | new.names):
                    break
        before.add(around, kept, old)
        after.add(around, kept, new)
    return before.units, after.units


def _spelled_in_cuts(text: str, lines: list[str], cuts: list[Cut], names: set[str]) -> tuple[set[str], set[int]]:
    """Which of `names` (each chain's head) the cuts' lines spell as whole words, and which cuts (by
    index) spell one: by `str.find` over `text` (the lines joined), not one regex per line. A name
    found in a cut is looked for again from the next cut on: a dense cut is not searched through."""
    cut_lines = [(start, end) for start, end, _, _ in cuts]
    if not all(map(_WORD_ONLY.fullmatch, names)):  # a name with a non-word character: `\b` reads it apart
        spelled = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b")
        found = {(name, i) for i, (start, end) in enumerate(cut_lines) for number in range(start, end + 1)
                 for name in spelled.findall(lines[number - 1])}
        return {name for name, _ in found}, {i for _, i in found}
    line_starts = list(accumulate(map(len, lines), initial=0))  # line n starts at line_starts[n - 1]
    cut_starts = [start for start, _ in cut_lines]
    found_names: set[str] = set()
    found_cuts: set[int] = set()
    for name in names:
        at = next_word_start(text, name, 0)
        while at != -1:
            number = bisect_right(line_starts, at)  # lines are numbered from 1
            i = bisect_right(cut_starts, number) - 1
            if i >= 0 and number <= cut_lines[i][1]:
                found_names.add(name)
                found_cuts.add(i)
                at = line_starts[cut_lines[i][1]]  # on from the line after this cut
            elif i + 1 < len(cut_lines):
                at = max(at + 1, line_starts[cut_lines[i + 1][0] - 1])  # on from the next cut
            else:
                break
            at = next_word_start(text, name, at)
    return found_names, found_cuts


class _Reads:
    """The names and attributes one cut reads, as the walk meets them."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.attributes: list[ast.Attribute] = []

    def add(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.names.add(node.id)
        else:
            self.attributes.append(node)


class _Listing:
    """Each cut's list of the names and chains not yet listed in the file, or in a function around
    the cut whose own imports bind them."""

    def __init__(self, imported: set[str], dotted: tuple[str, ...]) -> None:
        self.imported, self.dotted = imported, dotted
        self.listed: set[str] = set()
        self.in_holder: dict[int, set[str]] = {}  # by id of the _Holder
        self.units: list[list[str]] = []

    def has(self, wanted: set[str], around: list[_Holder], extra: set[str] = frozenset()) -> bool:
        """Is each of `wanted` listed (or in `extra`) for the file and for each function around?"""
        if not wanted <= self.listed | extra:
            return False
        return all(wanted & h.names <= self.in_holder.get(id(h), set()) | extra for h in around)

    def nothing(self) -> None:
        """A cut that lists nothing (every name it could read is listed already)."""
        self.units.append([])

    def _new(self, key: str, head: str, around: list[_Holder]) -> bool:
        """Is `key` (a name, or a chain starting with the name `head`) unlisted where it counts? Marks it listed."""
        new = key not in self.listed
        self.listed.add(key)
        for h in around:
            if head in h.names:
                seen = self.in_holder.setdefault(id(h), set())
                new = new or key not in seen
                seen.add(key)
        return new

    def add(self, around: list[_Holder], *reads: _Reads) -> None:
        unit: dict[str, None] = {}
        for name in sorted(set().union(*(r.names for r in reads)) & self.imported):
            if self._new(name, name, around):
                unit.setdefault(name)
        if self.dotted:
            for node in (node for r in reads for node in r.attributes):
                chain = _chain(node)
                if chain and "." in chain and chain.startswith(self.dotted) and self._new(chain, chain.split(".")[0],
                                                                                          around):
                    unit.setdefault(chain)
        self.units.append(list(unit))


def _chain(node: ast.Attribute) -> str | None:
    parts = dotted_parts(node)
    return ".".join(parts) if parts else None
