"""The changed blocks between two lists of lines, in time close to linear for what a port does.

difflib's SequenceMatcher is exact but, with autojunk off, quadratic in a line repeated many times
(`    return x` in every function of a long file): a 1 MiB file took over an hour. So the lines are
first tied together where it is cheap and certain (common ends; lines found once on each side, in
order, as in a patience diff), and SequenceMatcher runs only between those ties, on ranges small
enough. A large range with no such tie is tied by the heads of its lines (`x5 = `, `def f12`: a
port rewrites lines in place), else paired line by line when both sides have the same length,
else matched with autojunk on (bounded cost).
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter
from collections.abc import Callable

Opcode = tuple[str, int, int, int, int]
# Ranges up to this many line pairs go to SequenceMatcher as they are (files up to about 2,000 lines).
EXACT_PAIRS = 4_000_000


def changed_blocks(a: list[str], b: list[str]) -> list[Opcode]:
    """difflib-style opcodes (`replace`, `delete`, `insert`) turning `a` into `b`, in order; equal
    runs are left out."""
    out: list[Opcode] = []
    _diff(a, b, 0, len(a), 0, len(b), out)
    return out


def _diff(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int, out: list[Opcode]) -> None:
    if (ahi - alo) * (bhi - blo) <= EXACT_PAIRS:  # before the ends are stripped: difflib's own answer
        _matcher(a, b, alo, ahi, blo, bhi, out, autojunk=False)
        return
    while alo < ahi and blo < bhi and a[alo] == b[blo]:
        alo, blo = alo + 1, blo + 1
    while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
        ahi, bhi = ahi - 1, bhi - 1
    if alo == ahi and blo == bhi:
        return
    if alo == ahi or blo == bhi:
        out.append(("insert" if alo == ahi else "delete", alo, ahi, blo, bhi))
        return
    if (ahi - alo) * (bhi - blo) <= EXACT_PAIRS:
        _matcher(a, b, alo, ahi, blo, bhi, out, autojunk=False)
        return
    ties = _unique_ties(a, b, alo, ahi, blo, bhi, _whole)
    if not ties:  # lines rewritten in place: tie them by their heads (`x5 = `, `def f12`)
        ties = _unique_ties(a, b, alo, ahi, blo, bhi, _head)
    if ties:
        for i, j in ties:
            _diff(a, b, alo, i, blo, j, out)
            if a[i] != b[j]:
                out.append(("replace", i, i + 1, j, j + 1))
            alo, blo = i + 1, j + 1
        _diff(a, b, alo, ahi, blo, bhi, out)
    elif ahi - alo == bhi - blo:
        _pairwise(a, b, alo, ahi, blo, out)
    else:
        _matcher(a, b, alo, ahi, blo, bhi, out, autojunk=True)


def _matcher(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int, out: list[Opcode],
             autojunk: bool) -> None:
    matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=autojunk)
    out.extend((tag, alo + i1, alo + i2, blo + j1, blo + j2)
               for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def _pairwise(a: list[str], b: list[str], alo: int, ahi: int, blo: int, out: list[Opcode]) -> None:
    """Same length: line k of one side stands against line k of the other; runs of differing lines
    are one block each."""
    start = None
    for k in range(ahi - alo + 1):
        differs = k < ahi - alo and a[alo + k] != b[blo + k]
        if differs and start is None:
            start = k
        elif not differs and start is not None:
            out.append(("replace", alo + start, alo + k, blo + start, blo + k))
            start = None


def _whole(line: str) -> str:
    return line


def _head(line: str) -> str:
    """A line's text up to its first call, attribute, index, assignment or colon."""
    return _HEAD.match(line).group()


_HEAD = re.compile(r"[^(.\[=:]*")


def _unique_ties(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int,
                 key: Callable[[str], str]) -> list[tuple[int, int]]:
    """Lines whose key is found exactly once in each range, as (i, j) pairs, the longest run of
    them in the same order on both sides."""
    keys_a = [key(line) for line in a[alo:ahi]]
    keys_b = [key(line) for line in b[blo:bhi]]
    count_a, count_b = Counter(keys_a), Counter(keys_b)
    where_b = {k: j for j, k in enumerate(keys_b, start=blo) if count_b[k] == 1}
    pairs = [(i, where_b[k]) for i, k in enumerate(keys_a, start=alo) if count_a[k] == 1 and k in where_b]
    return _longest_increasing(pairs)


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of `pairs` (in order of i) whose j increase too (patience sorting)."""
    tops: list[int] = []  # the j ending the best run of each length
    ends: list[int] = []  # the index in `pairs` of that run's last pair
    before: list[int] = []
    for k, (_, j) in enumerate(pairs):
        n = bisect.bisect_left(tops, j)
        before.append(ends[n - 1] if n else -1)
        if n == len(tops):
            tops.append(j)
            ends.append(k)
        else:
            tops[n], ends[n] = j, k
    run: list[tuple[int, int]] = []
    k = ends[-1] if ends else -1
    while k >= 0:
        run.append(pairs[k])
        k = before[k]
    return run[::-1]
