"""The rules of one run indexed for the engine, and the scan for the lines that hold a token.

The index also remembers, per qualified name, which of its name and call matchers the name matches:
a file asks the same questions of the same patterns thousands of times (`torch.cuda.synchronize`,
`torch.empty`, ...), and a glob match is the engine's most frequent operation.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick_rs

from porter.source.catalogue import Matcher, Rule, glob_match


@dataclass
class RuleIndex:
    """The rules of one lint run, indexed by the node kinds their matchers look at."""

    rules: tuple[Rule, ...]
    names: list[tuple[Rule, Matcher]] = field(default_factory=list)
    imports: list[tuple[Rule, Matcher]] = field(default_factory=list)
    methods: dict[str, list[tuple[Rule, Matcher]]] = field(default_factory=dict)
    attributes: dict[str, list[tuple[Rule, Matcher]]] = field(default_factory=dict)
    calls: list[tuple[Rule, Matcher]] = field(default_factory=list)
    keywords: dict[str, list[tuple[Rule, Matcher]]] = field(default_factory=dict)
    compares: list[tuple[Rule, Matcher]] = field(default_factory=list)
    strings: list[tuple[Rule, Matcher]] = field(default_factory=list)
    tokens: tuple[str, ...] = ()
    token_regex: re.Pattern[str] | None = None
    # The tokens that hold no other token (`device_ids` holds `device_id`): a text or line holds
    # some token exactly when it holds one of these, so the prefilter and the line scan look for
    # fewer strings. `search_bytes` is the same, encoded once for the prefilter on raw file bytes.
    search_tokens: tuple[str, ...] = ()
    search_bytes: tuple[bytes, ...] = ()
    # The ids whose findings are reported; the other indexed rules (ignored ones) only take part
    # in deciding which rule owns a construct, so ignoring NRN120 does not hand
    # `torch.cuda.is_available` to the `torch.cuda.*` catch-all.
    reported: frozenset[str] = frozenset()
    # The port target the findings are for: a device test whose fix on this target leaves it as it
    # is (`device == "cuda"` on `portable`) keeps the code it decides CUDA-only (gates.py).
    target: str = "neuron"
    # Filled as names are met (see name_patterns and call_matches); never compared or shown.
    _name_memo: dict[str, dict[int, str]] = field(default_factory=dict, repr=False, compare=False)
    _callee_memo: dict[str, frozenset[int]] = field(default_factory=dict, repr=False, compare=False)
    _method_calls: dict[str, tuple[int, ...]] | None = field(default=None, repr=False, compare=False)
    _any_name: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _any_callee: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    # The search tokens as one automaton (built on first use, per process: it does not pickle).
    _bytes_searcher: ahocorasick_rs.BytesAhoCorasick | None = field(default=None, repr=False, compare=False)
    _text_searcher: ahocorasick_rs.AhoCorasick | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_bytes_searcher"] = state["_text_searcher"] = None
        return state

    def for_target(self, target: str) -> RuleIndex:
        """This index, for the port target `target` (its memos shared)."""
        return self if self.target == target else dataclasses.replace(self, target=target)

    @classmethod
    def build(cls, rules: Iterable[Rule], also_match: Iterable[Rule] = (), target: str = "neuron") -> RuleIndex:
        """Index `rules` for reporting, and `also_match` (the ignored rules) only for deciding
        which rule owns a construct."""
        selected = tuple(rules)
        chosen = {r.id for r in selected}
        extra = tuple(r for r in also_match if r.id not in chosen and r.matchers)
        index = cls(rules=selected + extra, reported=frozenset(chosen), target=target)
        for rule in index.rules:
            for m in rule.matchers:
                if m.kind == "name":
                    if set(m.context) - {"import"}:
                        index.names.append((rule, m))
                    if "import" in m.context:
                        index.imports.append((rule, m))
                elif m.kind == "method":
                    for name in m.names:
                        index.methods.setdefault(name, []).append((rule, m))
                elif m.kind == "attribute":
                    for name in m.names:
                        index.attributes.setdefault(name, []).append((rule, m))
                elif m.kind == "call":
                    index.calls.append((rule, m))
                elif m.kind == "keyword":
                    index.keywords.setdefault(m.keyword, []).append((rule, m))
                elif m.kind == "compare":
                    index.compares.append((rule, m))
                elif m.kind == "string":
                    index.strings.append((rule, m))
        index.tokens = tuple(sorted({t for r in selected for t in r.tokens}))
        if index.tokens:
            index.token_regex = re.compile("|".join(re.escape(t) for t in index.tokens))
        index.search_tokens = tuple(t for t in index.tokens if not any(o != t and o in t for o in index.tokens))
        index.search_bytes = tuple(t.encode() for t in index.search_tokens)
        return index

    def wants(self, text: str | bytes) -> bool:
        """The prefilter: does this text contain any token at all?"""
        if isinstance(text, bytes):
            return any(t in text for t in self.search_bytes)
        return any(t in text for t in self.search_tokens)

    def token_lines(self, text: str | bytes) -> list[int]:
        """Sorted 1-based numbers of the lines of `text` that hold a token: the lines `hit_lines`
        finds with `token_regex`, empty when the prefilter would skip the text. One pass of an
        Aho-Corasick automaton over all tokens: a file is read once, not once per token. Its
        matches do not overlap, but a match it skips overlaps one it reports, and tokens hold no
        newline, so the two are on the same line."""
        if not self.search_tokens:
            return []
        if isinstance(text, bytes):
            if self._bytes_searcher is None:
                self._bytes_searcher = ahocorasick_rs.BytesAhoCorasick(
                    self.search_bytes, implementation=ahocorasick_rs.Implementation.DFA)
            matches = self._bytes_searcher.find_matches_as_indexes(text)
            newline: str | bytes = b"\n"
        else:
            if self._text_searcher is None:
                self._text_searcher = ahocorasick_rs.AhoCorasick(
                    self.search_tokens, implementation=ahocorasick_rs.Implementation.DFA)
            matches = self._text_searcher.find_matches_as_indexes(text)
            newline = "\n"
        lines: list[int] = []
        count = text.count
        line, last = 1, 0
        for _, at, _ in matches:  # in text order
            line += count(newline, last, at)
            last = at
            if not lines or lines[-1] != line:
                lines.append(line)
        return lines

    def name_patterns(self, qualname: str) -> dict[int, str]:
        """For each name matcher (by its position in `names`) matching `qualname`, the most specific
        of its patterns that does: `glob_match(qualname, m.names)` for every m, remembered."""
        found = self._name_memo.get(qualname)
        if found is None:
            found = {}
            if self._any_name is None:
                self._any_name = any_glob([p for _, m in self.names for p in m.names])
            # most names a file uses match no pattern: one regex match says so
            for i, (_, m) in enumerate(self.names) if self._any_name.match(qualname) else ():
                pattern = glob_match(qualname, m.names)
                if pattern is not None:
                    found[i] = pattern
            self._name_memo[qualname] = found
        return found

    def callee_matches(self, qualname: str) -> frozenset[int]:
        """The call matchers (by position in `calls`) with a callee pattern matching `qualname`."""
        found = self._callee_memo.get(qualname)
        if found is None:
            if self._any_callee is None:
                self._any_callee = any_glob([p for _, m in self.calls for p in m.callee])
            found = self._callee_memo[qualname] = frozenset(
                i for i, (_, m) in enumerate(self.calls) if m.callee and glob_match(qualname, m.callee)
            ) if self._any_callee.match(qualname) else frozenset()
        return found

    def method_calls(self, method: str) -> tuple[int, ...]:
        """The call matchers (by position in `calls`) without a callee that list this method."""
        if self._method_calls is None:
            by_method: dict[str, list[int]] = {}
            for i, (_, m) in enumerate(self.calls):
                if not m.callee:
                    for name in m.methods:
                        by_method.setdefault(name, []).append(i)
            self._method_calls = {name: tuple(positions) for name, positions in by_method.items()}
        return self._method_calls.get(method, ())


def any_glob(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex whose `match` says whether any of the glob patterns matches a whole name, as
    `fnmatch.fnmatchcase` would (it is built from `fnmatch.translate`, as fnmatchcase's own are)."""
    translated = [fnmatch.translate(p) for p in sorted(set(patterns))]
    return re.compile("|".join(f"(?:{t})" for t in translated) if translated else r"(?!)")


def hit_lines(source: str, regex: re.Pattern[str]) -> list[int]:
    """Sorted 1-based numbers of the lines holding a token."""
    lines: list[int] = []
    line, last = 1, 0
    for match in regex.finditer(source):
        line += source.count("\n", last, match.start())
        last = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def token_lines(source: str, tokens: Iterable[str]) -> list[int]:
    """Sorted 1-based numbers of the lines holding one of `tokens` (which hold no newline): the
    same lines as `hit_lines` with a regex of them, found by one `str.find` scan per token, which
    is several times faster than the regex engine trying every token at every position."""
    starts: list[int] = []
    find = source.find
    for token in tokens:
        at = find(token)
        while at != -1:
            starts.append(at)
            at = find(token, at + 1)
    return _line_numbers(source, starts)


def word_lines(source: str, words: Iterable[str]) -> list[int]:
    r"""Sorted 1-based numbers of the lines holding one of `words` (which hold no newline) as a
    whole word: the lines `hit_lines` finds with the regex `\b(?:word|...)\b`, by `str.find`."""
    return _line_numbers(source, [at for word in words for at in word_starts(source, word)])


def word_starts(source: str, word: str) -> list[int]:
    r"""The offsets where `word` stands as a whole word (`\bword\b`), in order, by `str.find`."""
    starts: list[int] = []
    at = next_word_start(source, word, 0)
    while at != -1:
        starts.append(at)
        at = next_word_start(source, word, at + 1)
    return starts


def next_word_start(source: str, word: str, begin: int) -> int:
    r"""The first offset from `begin` on where `word` stands as a whole word (`\bword\b`); -1 if none."""
    find, size, length = source.find, len(source), len(word)
    at = find(word, begin)
    while at != -1:
        end = at + length
        # `\b`: a word character on exactly one side of each end
        if (_is_word(source[at - 1]) if at else False) != _is_word(word[0]) and \
                _is_word(word[-1]) != (_is_word(source[end]) if end < size else False):
            return at
        at = find(word, at + 1)
    return -1


def _is_word(char: str) -> bool:
    r"""A `\w` character of a str regex: alphanumeric or the underscore."""
    return char.isalnum() or char == "_"


def _line_numbers(source: str, starts: list[int]) -> list[int]:
    """The sorted, distinct 1-based numbers of the lines these offsets are on."""
    if not starts:
        return []
    starts.sort()
    lines: list[int] = []
    count = source.count
    line, last = 1, 0
    for at in starts:
        line += count("\n", last, at)
        last = at
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines
