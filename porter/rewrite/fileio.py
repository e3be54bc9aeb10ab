"""Writes that never leave a half-written file, and a tree copy that never leaves the tree."""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import stat
import tempfile
import tokenize
from pathlib import Path

from porter.source.discovery import TEMP_SUFFIX, is_leftover_temp

# Python's line breaks (\n, \r\n, \r) and no others: str.splitlines also breaks at a form feed
# (and \x1c-\x1e, \x85, \u2028...), which shifts every line number after it.
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_NO_NEWLINE = "\\ No newline at end of file\n"


def source_lines(text: str) -> list[str]:
    """The lines of Python source, each with its line break, numbered as the tokenizer numbers them."""
    return _LINES.findall(text)


def unified_diff(before: str, after: str, fromfile: str, tofile: str) -> str:
    """A unified diff `git apply` and `patch` accept: lines split where Python splits them, and a
    last line without a line break marked `\\ No newline at end of file`."""
    out = []
    for line in difflib.unified_diff(source_lines(before), source_lines(after), fromfile=fromfile, tofile=tofile):
        out.append(line)
        if line[:1] in " +-" and not line.endswith(("\n", "\r")):
            out.append("\n" + _NO_NEWLINE)
    return "".join(out)


def remove_leftover_temps(folder: Path) -> int:
    """Remove the temp files a killed run left below `folder`; the number removed."""
    removed = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".hg", ".svn")]
        for name in filenames:
            if is_leftover_temp(name):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def source_encoding(data: bytes) -> str:
    """The encoding Python reads these bytes in: `utf-8-sig` with a BOM, a PEP 263 cookie's, else utf-8.

    Writing the ported text back in it keeps the BOM and keeps the cookie true.
    """
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        return "utf-8"


def encode_source(text: str, encoding: str) -> bytes:
    """The ported text in the source's own encoding; UnicodeEncodeError when it cannot hold it."""
    return text.encode(encoding)


def atomic_write(path: Path, data: bytes, mode_from: Path | None = None, durable: bool = True,
                 made: set[Path] | None = None) -> None:
    """Write to a temp file beside `path`, then rename over it: readers see old or new, never half.
    `durable`: flushed to disk before the rename (a power cut cannot leave an empty file where the
    user's was); a copy into a new --out tree skips it, since the source stays untouched. `made`:
    as for `copy_file`."""
    def fill(tmp: str) -> None:
        with open(tmp, "wb") as out:
            out.write(data)

    source = mode_from if mode_from is not None else (path if path.exists() else None)
    _replace_with(path, fill, source, durable, made)


def copy_file(src: Path, dst: Path, durable: bool = True, made: set[Path] | None = None) -> None:
    """Byte-for-byte copy (with permissions), written atomically; the kernel copies the bytes
    (shutil.copyfile: sendfile on Linux), so a tree of big binaries is not read into Python.
    `made`: folders known to exist, which this adds to (a tree's copy asks for each folder once:
    a `mkdir` that finds the folder there costs as much as one that makes it)."""
    _replace_with(dst, lambda tmp: shutil.copyfile(src, tmp), src, durable, made)


def _replace_with(path: Path, fill, mode_from: Path | None, durable: bool, made: set[Path] | None = None) -> None:
    """A temp file beside `path`, filled by `fill(temp path)`, given `mode_from`'s permissions, then
    renamed over `path`; removed again on any failure."""
    if made is None or path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        fill(tmp)
        if durable:
            with open(tmp, "rb+") as out:
                os.fsync(out.fileno())
        if mode_from is not None:
            os.chmod(tmp, stat.S_IMODE(os.stat(mode_from).st_mode))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def copy_symlink(src: Path, dst: Path, tree_root: Path) -> bool:
    """Recreate a symlink that points inside the tree; return False for one that leaves it."""
    target = os.readlink(src)
    resolved = (src.parent / target).resolve()
    if not resolved.is_relative_to(tree_root.resolve()):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    os.symlink(target, dst)
    return True


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
