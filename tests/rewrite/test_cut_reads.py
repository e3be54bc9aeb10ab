"""The names the narrow port's cut units spell (porter.rewrite.cut_reads), and the units that spell
one: found by `str.find` searches that skip the rest of a unit once it spells a name, they must be
what a `\\b(?:name|...)\\b` regex finds on each cut line."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porter.rewrite.cut_reads import _spelled_in_cuts

NAMES = {"F", "Fn", "np", "tc", "torch", "é"}


def _by_regex(lines: list[str], cuts: list[tuple[int, int]], names: set[str]) -> tuple[set[str], set[int]]:
    """The names spelled on the cuts' lines, and the cuts (by index) spelling one, line by line."""
    regex = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b")
    found = {(name, i) for i, (start, end) in enumerate(cuts) for n in range(start, end + 1)
             for name in regex.findall(lines[n - 1])}
    return {name for name, _ in found}, {i for _, i in found}


def _check(text: str, cuts: list[tuple[int, int]], names: set[str]) -> None:
    lines = text.splitlines(keepends=True)
    cut_units = [(start, end, [], "stmt") for start, end in cuts]
    assert _spelled_in_cuts(text, lines, cut_units, names) == _by_regex(lines, cuts, names)


@pytest.mark.parametrize("text, cuts", [
    ("x = F.relu(y)\nFn(1)\nxF = 1\n_F\nF_\n", [(1, 1), (3, 5)]),
    ("import torch\ntorch.x\n\ttorch\x0ctorch\nnp.ones\n", [(2, 3)]),  # a form feed splits a line for splitlines
    ("a = 'tc'\r\nb = tc\rc = 1F + é\n", [(1, 3)]),
    ("éF F\nFé\n\nnp", [(1, 2), (4, 4)]),
    # a name spelled all through one cut, and between cuts: the search skips to the next cut each time
    ("torch\ntorch torch\ntorch\nnp torch\ntorch\nFn torch\n", [(1, 3), (5, 5), (6, 6)]),
])
def test_names_spelled_in_cuts_are_the_regex_ones(text, cuts):
    _check(text, cuts, NAMES)


def test_a_name_with_a_non_word_character_takes_the_regex():
    # U+0301 (a combining accent) is no word character: `\b` falls inside such a name
    _check("x\u0301 = 1\ny = x\u0301 + x\n", [(1, 2)], {"x\u0301", "x"})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="Fntcorhpé_1 .\n(", max_size=12), min_size=1, max_size=8),
       st.data())
def test_random_lines(lines, data):
    text = "\n".join(lines)
    count = len(text.splitlines())
    if not count:
        return
    bounds = sorted(data.draw(st.sets(st.integers(1, count), max_size=6)))
    cuts = [(bounds[i], bounds[i + 1] - 1 if i + 1 < len(bounds) else count) for i in range(0, len(bounds), 2)]
    cuts = [(s, e) for s, e in cuts if s <= e]
    _check(text, cuts, NAMES)
