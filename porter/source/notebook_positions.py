"""Where each line of a notebook's cells sits in the .ipynb file itself, for reports (SARIF) whose
viewers show the notebook as the JSON text it is.

The JSON is scanned once, keeping the position of each string of `cells[N].source`: every line of
a cell is one string there (nbformat writes `source` as a list of lines), so the cell's line k is
on that string's line of the file, and a column inside it is found by walking the string's escapes.
"""

from __future__ import annotations

import bisect
import json
import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_LITERAL = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_SPACE = re.compile(r"\s*")

Position = tuple[int, int]  # 1-based line and column in the .ipynb text


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        # cell number (1-based) -> [(offset of the string's opening quote, raw string)], in order
        self.sources: dict[int, list[tuple[int, str]]] = {}

    def value(self, i: int, path: tuple) -> int:
        i = _SPACE.match(self.text, i).end()
        c = self.text[i]
        if c == "{":
            i += 1
            while True:
                i = _SPACE.match(self.text, i).end()
                if self.text[i] == "}":
                    return i + 1
                key = _STRING.match(self.text, i)
                name = json.loads(key.group())
                i = _SPACE.match(self.text, key.end()).end() + 1  # the colon
                i = self.value(i, (*path, name))
                i = _SPACE.match(self.text, i).end()
                if self.text[i] == ",":
                    i += 1
        if c == "[":
            i, n = i + 1, 0
            while True:
                i = _SPACE.match(self.text, i).end()
                if self.text[i] == "]":
                    return i + 1
                i = self.value(i, (*path, n))
                n += 1
                i = _SPACE.match(self.text, i).end()
                if self.text[i] == ",":
                    i += 1
        if c == '"':
            match = _STRING.match(self.text, i)
            if len(path) >= 3 and path[0] == "cells" and path[2] == "source" and isinstance(path[1], int):
                self.sources.setdefault(path[1] + 1, []).append((i, match.group()))
            return match.end()
        return _LITERAL.match(self.text, i).end()

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def _raw_offset(raw: str, chars: int) -> int:
    """The offset in a JSON string literal (quotes included) of its `chars`-th decoded character."""
    i, seen = 1, 0
    while seen < chars and i < len(raw) - 1:
        if raw[i] == "\\":
            i += 6 if raw[i + 1] == "u" else 2
        else:
            i += 1
        seen += 1
    return i


def locate(data: bytes):
    """A function (cell, line, col) -> (line, col) in the .ipynb file, or None when the file does
    not scan; the function returns None for a position it cannot place."""
    try:
        scanner = _Scanner(data.decode("utf-8-sig"))
        scanner.value(0, ())
    except (ValueError, IndexError, AttributeError):
        return None

    def find(cell: int, line: int, col: int) -> Position | None:
        strings = scanner.sources.get(cell)
        if not strings:
            return None
        texts = [json.loads(raw) for _, raw in strings]
        lines = "".join(texts).split("\n")
        if not 0 < line <= len(lines):
            return None
        index = sum(len(x) + 1 for x in lines[: line - 1]) + col - 1  # in the cell's joined source
        for (offset, raw), text in zip(strings, texts, strict=True):
            if index < len(text) or (index == len(text) and not text.endswith("\n")):
                return scanner.position(offset + _raw_offset(raw, index))
            index -= len(text)
        return None

    return find
