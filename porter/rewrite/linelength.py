"""The project's configured line length, and markers wrapped to it.

A marker is a comment the team keeps in its code; one longer than the line length its linter
enforces (ruff E501) would be a new lint error. The length is the one the project configured for
the file, looked up as ruff does, from the file's folder upwards, the nearest configuration first:
`[tool.porter] line-length`, then ruff's `line-length` (`.ruff.toml`, `ruff.toml`, `[tool.ruff]` in
`pyproject.toml`), then `[tool.black] line-length`. Nothing configured: markers stay on one line
(ruff's default rules do not include E501).
"""

from __future__ import annotations

import sys
import textwrap
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Deeply indented markers still get this much room, rather than one word a line.
MIN_WIDTH = 40


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # not porter's file to judge: ruff reports its own broken configuration


def _valid(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _in_folder(folder: Path) -> int | None:
    pyproject = _read(folder / "pyproject.toml") if (folder / "pyproject.toml").is_file() else {}
    tools = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    porter = tools.get("porter", {})
    if isinstance(porter, dict) and _valid(porter.get("line-length")):
        return porter["line-length"]
    for name in (".ruff.toml", "ruff.toml"):
        if (folder / name).is_file():
            found = _valid(_read(folder / name).get("line-length"))
            if found:
                return found
    for tool in ("ruff", "black"):
        table = tools.get(tool, {})
        if isinstance(table, dict) and _valid(table.get("line-length")):
            return table["line-length"]
    return None


@lru_cache(maxsize=4096)
def _for_folder(folder: Path) -> int | None:
    found = _in_folder(folder)
    if found is not None or folder.parent == folder:
        return found
    return _for_folder(folder.parent)


def forget_line_lengths() -> None:
    """Read the configuration files again (a new port run: they may have been edited)."""
    _for_folder.cache_clear()


def configured_line_length(path: str | Path) -> int | None:
    """The line length configured for this file, or None when nothing sets one."""
    return _for_folder(Path(path).resolve().parent)


def wrap_marker(text: str, width: int) -> str:
    """`# porter: NRN131 ...` wrapped to `width` columns; continuation lines start with `#   `.

    Lines are joined with newlines; the first keeps the `porter: NRNxxx` that later ports recognise.
    """
    width = max(width, MIN_WIDTH)
    if len(text) <= width or not text.startswith("# "):
        return text
    wrapper = textwrap.TextWrapper(width=width, initial_indent="# ", subsequent_indent="#   ",
                                   break_long_words=False, break_on_hyphens=False)
    return "\n".join(wrapper.wrap(text[2:]))
