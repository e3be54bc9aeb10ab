"""The content-hash cache: a file whose bytes have not changed is not parsed again.

One JSON file per (porter version and source files, catalogue, target, rule set). An entry is reused when the
file's size and mtime are unchanged, or, failing that, when its content hash is. Writes are atomic
and merge with what another process (pre-commit runs several) may have written meanwhile.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from porter import __version__
from porter.source.findings import Finding

CACHE_DIR_ENV = "PORTER_CACHE_DIR"
NO_CACHE_ENV = "PORTER_NO_CACHE"


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def cache_key(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in (__version__, _code_signature(), *parts):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _code_signature() -> str:
    """porter's own source files by size and mtime: an edited or reinstalled porter (an editable
    install, a development checkout) never reuses results its older code produced. A few hundred
    stat calls, once per run."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.blake2b(digest_size=12)
    for path in sorted(package.rglob("*.py")):
        try:
            stat = path.stat()
        except OSError:
            continue
        h.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()


def default_cache_dir(cwd: Path) -> Path:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    for directory in (cwd, *cwd.parents):
        if (directory / "pyproject.toml").is_file():
            return directory / ".porter_cache"
    return cwd / ".porter_cache"


def read_entries(path: Path) -> dict[str, list]:
    """A cache file's entries; a missing or damaged file reads as empty."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_entries(path: Path, entries: dict[str, list]) -> None:
    """Merge with what another process wrote meanwhile, then replace the file atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        gitignore = path.parent / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("# Created by porter\n*\n", encoding="utf-8")
        merged = {**read_entries(path), **entries}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(merged, out, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written costs speed, never correctness


class Cache:
    def __init__(self, directory: Path, key: str) -> None:
        self.path = directory / f"lint-{key}.json"
        self.entries: dict[str, list] = self._read()
        self.dirty = False

    def _read(self) -> dict[str, list]:
        return read_entries(self.path)

    def lookup(self, path: str, size: int, mtime_ns: int) -> list[Finding] | None:
        entry = self.entries.get(path)
        try:
            if entry and entry[0] == size and entry[1] == mtime_ns:
                return [Finding.from_dict(f) for f in entry[3]]
        except (TypeError, KeyError, IndexError, ValueError):
            pass  # a damaged entry is a miss: the file is checked again
        return None

    def lookup_hash(self, path: str, digest: str) -> list[Finding] | None:
        entry = self.entries.get(path)
        try:
            if entry and entry[2] == digest:
                return [Finding.from_dict(f) for f in entry[3]]
        except (TypeError, KeyError, IndexError, ValueError):
            pass
        return None

    def store(self, path: str, size: int, mtime_ns: int, digest: str, findings: list[Finding]) -> None:
        self.entries[path] = [size, mtime_ns, digest, [f.to_dict() for f in findings]]
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            save_entries(self.path, self.entries)
