"""Finding the files to check: walking directories, excludes, .gitignore, symlinks.

Paths named on the command line are always checked (unless `force_exclude`); excludes apply to
what is found below them. Symlinked directories are followed while they stay inside the tree
being walked; a link back to a folder already on the walk is reported as a loop, never followed.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

from porter.config import Settings

PYTHON_SUFFIXES = (".py", ".pyi")
NOTEBOOK_SUFFIX = ".ipynb"
CHECKABLE_SUFFIXES = (*PYTHON_SUFFIXES, NOTEBOOK_SUFFIX)
# The temp file port writes beside its target (`.NAME.XXXXXXXX.porter-tmp`) and renames over it. One
# still there was left by a killed run: never ported or copied, and removed by the next run that
# writes in its folder.
TEMP_SUFFIX = ".porter-tmp"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def is_leftover_temp(name: str) -> bool:
    return _TEMP_NAME.match(name) is not None


def special_file(path: Path | os.DirEntry) -> str | None:
    """What a path that is neither a folder nor a regular file is (a FIFO, a socket, a device), or
    None. Reading a FIFO would wait forever for a writer: such paths are never opened."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    # (path, message): paths that could not be walked; each becomes an NRN005 finding.
    problems: list[tuple[str, str]] = field(default_factory=list)
    # Directories named explicitly in which the walk found no file to check (a warning, like ruff's).
    empty_dirs: list[str] = field(default_factory=list)


def is_checkable(path: Path) -> bool:
    return path.suffix in PYTHON_SUFFIXES or path.suffix == NOTEBOOK_SUFFIX


def _excluded(path: Path, settings: Settings, with_parents: bool = False) -> bool:
    """Does an exclude pattern match this path (by name or by path below the config's root)?

    A walk prunes excluded folders as it meets them, so it asks about each entry alone: a tree
    named explicitly (`porter lint .venv/lib/.../torch`) is checked, as with ruff. A file named on
    the command line under `--force-exclude` is also excluded when one of its folders is.
    """
    patterns = settings.all_excludes
    if not patterns:
        return False
    matches = _exclude_regex(patterns)
    candidates = [path]
    if with_parents:
        candidates += [p for p in path.absolute().parents if p.is_relative_to(settings.root) and p != settings.root]
    for candidate in candidates:
        if matches(candidate.name):
            return True
        try:
            rel = candidate.absolute().relative_to(settings.root).as_posix()
        except ValueError:
            continue
        if matches(rel):
            return True
    return False


@functools.lru_cache(maxsize=64)
def _exclude_regex(patterns: tuple[str, ...]) -> Callable[[str], object]:
    """All exclude globs as one compiled regex: one C-level match per name instead of one
    `fnmatch` call per pattern (a walk asks about every entry of the tree)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(p))})" for p in patterns)).match


def _gitignore(directory: Path) -> GitIgnoreSpec | None:
    path = directory / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return GitIgnoreSpec.from_lines(lines) if lines else None


def discover(
    paths: list[Path],
    settings_for: Callable[[Path], Settings],
    force_exclude: bool = False,
) -> Discovery:
    found = Discovery()
    position_of: dict[Path, int] = {}

    def add(path: Path, real: Path | None = None, is_real: bool | None = None) -> None:
        # A file reached twice (through a symlinked folder) is checked once, under its real name
        # when that name is one of the two: port must not rewrite one file twice. A walk passes
        # the real path it knows from its folder; a path named alone is resolved here.
        if real is None:
            absolute = path.absolute()
            try:
                real = path.resolve()
            except OSError:
                real = absolute
            is_real = absolute == real
        if real not in position_of:
            position_of[real] = len(found.files)
            found.files.append(path)
        elif is_real:
            found.files[position_of[real]] = path

    reached = [0]  # files the current directory's walk reached (duplicates included)

    def add_reached(path: Path, real: Path, is_real: bool) -> None:
        reached[0] += 1
        add(path, real, is_real)

    for path in paths:
        if not os.path.lexists(path):
            found.problems.append((str(path), "path does not exist"))
            continue
        if path.is_symlink() and not path.exists():
            found.problems.append((str(path), _link_problem(path)))
            continue
        if (kind := special_file(path)) is not None:
            found.problems.append((str(path), f"{kind}, not a regular file: not read"))
            continue
        if path.is_dir():
            reached[0] = 0
            _walk(path, settings_for, found, add_reached)
            if not reached[0]:
                found.empty_dirs.append(str(path))
        elif not (force_exclude and _excluded(path, settings_for(path), with_parents=True)):
            add(path)
    return found


def _link_problem(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symlink loop, not followed"
        return f"broken symlink ({exc.strerror})"
    return "cannot be read"


def _walk(root: Path, settings_for, found: Discovery, add) -> None:
    root_real = root.resolve()
    # Each entry: a directory, its real path, whether the walk reached it without a symlink, the
    # real paths of the folders on its walk, and the gitignore specs in force there (each with the
    # folder it is relative to). Real paths are built as the walk goes, not resolved per file.
    stack: list[tuple[Path, Path, bool, frozenset[Path], tuple[tuple[Path, GitIgnoreSpec], ...]]] = [
        (root, root_real, root.absolute() == root_real, frozenset({root_real}), ())
    ]
    while stack:
        directory, real_dir, is_real, ancestors, specs = stack.pop()
        spec = _gitignore(directory)
        if spec is not None:
            specs = specs + ((directory, spec),)
        settings = settings_for(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            found.problems.append((str(directory), f"cannot list directory ({exc.strerror})"))
            continue
        subdirs = []
        for entry in entries:
            link = entry.is_symlink()
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            name = entry.name
            if not (is_dir or link or name.endswith(CHECKABLE_SUFFIXES)):
                continue  # most of a tree: nothing to check, no pattern to match
            path = Path(entry.path)
            try:
                is_file = entry.is_file()
            except OSError:  # a symlink to itself (ELOOP): reported below as a symlink loop
                is_file = False
            if not is_dir and not is_file and (kind := special_file(entry)) is not None:
                found.problems.append((str(path), f"{kind}, not a regular file: not read"))
                continue
            if _ignored(path, is_dir, specs) or _excluded(path, settings):
                continue
            if link:
                if not path.exists():
                    if is_checkable(path) or path.suffix == "":
                        found.problems.append((str(path), _link_problem(path)))
                    continue
                real = path.resolve()
                if is_dir:
                    if real in ancestors:
                        found.problems.append((str(path), f"symlink loop to {real}, not followed"))
                        continue
                    if not real.is_relative_to(root_real):
                        continue  # never leave the tree being checked
                    subdirs.append((path, real, False, ancestors | {real}, specs))
                elif is_checkable(path):
                    add(path, real, False)
                continue
            real = real_dir / name
            if is_dir:
                subdirs.append((path, real, is_real, ancestors | {real}, specs))
            elif is_checkable(path):
                add(path, real, is_real)
        stack.extend(reversed(subdirs))


# Never copied by `porter port --out`: version-control internals and porter's own cache.
NEVER_COPIED = (".git", ".hg", ".svn", ".bzr", ".porter_cache")
# Tool folders `porter port --out` leaves out of the copy, and says so in its summary: they are
# rebuilt by their tools (and a virtual environment is not relocatable anyway).
TOOL_FOLDERS = {
    ".venv": "virtual environment", "node_modules": "node packages", "__pycache__": "bytecode cache",
    ".tox": "tox environments", ".nox": "nox environments", ".mypy_cache": "mypy cache",
    ".pytest_cache": "pytest cache", ".ruff_cache": "ruff cache",
}


def tool_folder(path: Path) -> str | None:
    """Why a folder is a tool folder `port --out` skips (a virtual environment anywhere), or None."""
    if path.name in TOOL_FOLDERS:
        return TOOL_FOLDERS[path.name]
    if (path / "pyvenv.cfg").is_file():
        return "virtual environment"
    return None


def walk_all(root: Path, settings_for: Callable[[Path], Settings], problems: list[tuple[str, str]],
             copy_all: bool = False, skipped: list[tuple[str, str]] | None = None,
             folders: list[Path] | None = None, leftovers: list[Path] | None = None):
    """Every file below `root`, symlinks included but never followed: yields (path, is_symlink, port).

    Temp files a killed port left (`is_leftover_temp`) are never yielded: they go to `leftovers`.
    FIFOs, sockets and devices are never yielded either (reading one could block): each is added to
    `skipped` with what it is.

    `port` is False for a file that is excluded or git-ignored (its folder's, too). Without
    `copy_all` those are not yielded at all (nor walked into). With it, everything is yielded for a
    full copy except NEVER_COPIED and tool folders (each added to `skipped` as (path, reason)), and
    every folder below `root` is added to `folders` (so a copy keeps empty ones too).
    """
    stack: list[tuple[Path, tuple, bool]] = [(root, (), True)]
    while stack:
        directory, specs, port_here = stack.pop()
        spec = _gitignore(directory)
        if spec is not None:
            specs = specs + ((directory, spec),)
        settings = settings_for(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append((str(directory), f"cannot list directory ({exc.strerror})"))
            continue
        subdirs = []
        for entry in entries:
            path = Path(entry.path)
            link = entry.is_symlink()
            is_dir = not link and entry.is_dir()
            if not is_dir and not link:
                if is_leftover_temp(entry.name):
                    if leftovers is not None:
                        leftovers.append(path)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    if skipped is not None:
                        skipped.append((str(path), f"{special_file(entry) or 'not a regular file'}, not read"))
                    continue
            port = port_here and not (_ignored(path, is_dir, specs) or _excluded(path, settings))
            if not port and not copy_all:
                continue
            if copy_all and entry.name in NEVER_COPIED:
                continue
            if copy_all and not port:
                reason = tool_folder(path) if is_dir else None
                if reason is not None:
                    if skipped is not None:
                        skipped.append((str(path), reason))
                    continue
            if is_dir:
                subdirs.append((path, specs, port))
                if folders is not None:
                    folders.append(path)
            else:
                yield path, link, port
        stack.extend(reversed(subdirs))


def _ignored(path: Path, is_dir: bool, specs) -> bool:
    for base, spec in specs:
        rel = path.relative_to(base).as_posix()
        if spec.match_file(rel + "/" if is_dir else rel):
            return True
    return False
