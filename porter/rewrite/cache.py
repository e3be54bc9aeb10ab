"""The port cache: a file whose bytes, rules and target are unchanged is not rewritten again.

One JSON file per (porter version, catalogue, target, rule set, unsafe fixes) next to the lint
cache. An entry holds the file's content hash, its ported text (None when nothing changed) and
its changes for the report. A damaged or unreadable cache is a miss, never an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from porter.rewrite.file_port import Change, FilePort
from porter.source.cache import content_hash


class PortCache:
    def __init__(self, directory: Path, key: str) -> None:
        self.path = directory / f"port-{key}.json"
        self.entries: dict[str, list] = self._read()
        self.dirty = False

    def _read(self) -> dict[str, list]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def lookup(self, path: str, text: str) -> FilePort | None:
        entry = self.entries.get(path)
        try:
            if not entry or entry[0] != content_hash(text.encode("utf-8")):
                return None
            _, error, ported, changes = entry
            return FilePort(path, text, text if ported is None else ported,
                            changes=[Change(*c) for c in changes], error=error)
        except (TypeError, ValueError):
            return None  # a damaged entry: port the file again

    def store(self, port: FilePort) -> None:
        self.entries[port.path] = [
            content_hash(port.original.encode("utf-8")),
            port.error,
            port.ported if port.changed else None,
            [[c.rule_id, c.line, c.col, c.action, c.detail] for c in port.changes],
        ]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            gitignore = self.path.parent / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# Created by porter\n*\n", encoding="utf-8")
            merged = {**self._read(), **self.entries}
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".port-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(merged, out, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written costs speed, never correctness
