"""The port cache: a file whose bytes, rules and target are unchanged is not rewritten again.

One JSON file per (porter version, catalogue, target, rule set, unsafe fixes) next to the lint
cache. An entry holds the file's content hash, its ported text (None when nothing changed) and
its changes for the report. A damaged or unreadable cache is a miss, never an error.
"""

from __future__ import annotations

from pathlib import Path

from porter.rewrite.results import Change, FilePort
from porter.source.cache import content_hash, read_entries, save_entries


class PortCache:
    def __init__(self, directory: Path, key: str) -> None:
        self.path = directory / f"port-{key}.json"
        self.entries: dict[str, list] = self._read()
        self.dirty = False

    def _read(self) -> dict[str, list]:
        return read_entries(self.path)

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
            [[c.rule_id, c.line, c.col, c.action, c.detail, c.name, c.swap, c.covered_by] for c in port.changes],
        ]
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            save_entries(self.path, self.entries)
