"""Upgrade a file or a tree with `porter port`'s safety: atomic writes, the file's own encoding, a
`--out` copy of the whole tree, nothing written in `--diff` / `--check` modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from porter.rewrite.fileio import atomic_write, copy_file, encode_source, source_encoding, unified_diff
from porter.translate.nki_upgrade.transform import Report, upgrade_module

# A file is parsed only when it mentions NKI at all.
TOKEN = "nki"


@dataclass
class FileUpgrade:
    path: Path
    original: str = ""
    upgraded: str = ""
    encoding: str = "utf-8"
    report: Report = field(default_factory=Report)
    error: str = ""

    @property
    def changed(self) -> bool:
        return not self.error and self.upgraded != self.original

    def diff(self, label: str) -> str:
        return unified_diff(self.original, self.upgraded, f"a/{label}", f"b/{label}")


@dataclass
class TreeUpgrade:
    root: Path
    files: list[FileUpgrade] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    copied: int = 0

    @property
    def changed(self) -> list[FileUpgrade]:
        return [f for f in self.files if f.changed]


def upgrade_file(path: Path) -> FileUpgrade:
    result = FileUpgrade(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.error = f"cannot read ({exc.strerror})"
        return result
    result.encoding = source_encoding(data)
    try:
        result.original = data.decode(result.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        result.error = f"cannot decode as {result.encoding} ({exc})"
        return result
    result.upgraded = result.original
    if TOKEN not in result.original:
        return result
    try:
        result.upgraded, result.report, _ = upgrade_module(result.original)
    except cst.ParserSyntaxError as exc:
        result.error = f"syntax error, not upgraded (line {exc.raw_line}: {exc.message})"
        result.upgraded = result.original
    except RecursionError:
        result.error = "nesting too deep to parse, not upgraded"
        result.upgraded = result.original
    return result


def _python_files(root: Path, problems: list[tuple[str, str]]):
    from porter.config import ConfigResolver, Overrides
    from porter.source.discovery import walk_all

    resolver = ConfigResolver(Overrides())
    for path, is_link, port in walk_all(root, resolver.for_path, problems):
        if port and not is_link and path.suffix == ".py":
            yield path


def upgrade_tree(path: Path) -> TreeUpgrade:
    """Upgrade every Python file under `path` (or the one file) in memory."""
    result = TreeUpgrade(path)
    files = [path] if path.is_file() else list(_python_files(path, result.problems))
    for file in files:
        up = upgrade_file(file)
        if up.error:
            result.problems.append((str(file), up.error))
        result.files.append(up)
    return result


def write_in_place(result: TreeUpgrade) -> None:
    for up in result.changed:
        try:
            atomic_write(up.path, encode_source(up.upgraded, up.encoding))
        except (OSError, UnicodeEncodeError) as exc:
            result.problems.append((str(up.path), f"cannot write ({exc})"))
            up.upgraded = up.original


def write_copy(result: TreeUpgrade, out: Path) -> None:
    """The whole tree under `out`: upgraded files upgraded, everything else copied byte for byte."""
    from porter.config import ConfigResolver, Overrides
    from porter.source.discovery import walk_all

    root = result.root
    base = root if root.is_dir() else root.parent
    by_path = {up.path: up for up in result.files}
    if root.is_file():
        entries = [(root, False)]
    else:
        resolver = ConfigResolver(Overrides())
        entries = [(p, link) for p, link, _ in walk_all(root, resolver.for_path, result.problems, copy_all=True)]
    for src, is_link in entries:
        dst = out / src.relative_to(base)
        try:
            up = by_path.get(src)
            if is_link:
                continue  # links are not followed out of the tree; their targets are copied where they live
            if up is not None and up.changed:
                atomic_write(dst, encode_source(up.upgraded, up.encoding), mode_from=src)
            else:
                copy_file(src, dst)
                result.copied += 1
        except (OSError, UnicodeEncodeError) as exc:
            result.problems.append((str(src), f"cannot write {dst} ({exc})"))
