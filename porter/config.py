"""`[tool.porter]` in pyproject.toml: reading it, finding the nearest one, and CLI overrides.

Like ruff, the nearest pyproject.toml that has a `[tool.porter]` table governs a file; a
pyproject.toml without one is passed over. Options given on the command line win over all files.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TARGETS = ("neuron", "portable", "xla")
DEFAULT_TARGET = "neuron"

DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".ipynb_checkpoints", ".mypy_cache", ".nox",
    ".pants.d", ".porter_cache", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox",
    ".venv", "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages", "venv",
)

KNOWN_KEYS = {
    "select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude",
    "target", "rule-paths", "models", "line-length",
}


class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    """Effective settings for one part of a tree."""

    root: Path
    config_file: Path | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    target: str = DEFAULT_TARGET
    rule_paths: tuple[Path, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def all_excludes(self) -> tuple[str, ...]:
        return self.exclude + self.extend_exclude


@dataclass(frozen=True)
class Overrides:
    """What the command line says; None means "not given"."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    target: str | None = None
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] | None = None

    def apply(self, settings: Settings) -> Settings:
        changes = {}
        if self.select is not None:
            # As in ruff: a `--select` starts the selection afresh, dropping the configuration's
            # select, extend-select and ignore; the command line's own ignores still apply.
            changes["select"] = self.select
            changes["extend_select"] = self.extend_select or ()
            changes["ignore"] = self.ignore or ()
        else:
            if self.extend_select is not None:
                changes["extend_select"] = settings.extend_select + self.extend_select
            if self.ignore is not None:
                changes["ignore"] = settings.ignore + self.ignore
        if self.target is not None:
            changes["target"] = check_target(self.target, "--target")
        if self.exclude is not None:
            changes["exclude"] = self.exclude
        if self.extend_exclude is not None:
            changes["extend_exclude"] = settings.extend_exclude + self.extend_exclude
        return replace(settings, **changes)


def check_target(value: str, where: str) -> str:
    if value not in TARGETS:
        raise ConfigError(f"{where}: unknown target {value!r}; choose one of {', '.join(TARGETS)}")
    return value


def _strings(table: dict, key: str, where: Path) -> tuple[str, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: [tool.porter] {key} must be a list of strings")
    return tuple(value)


def read_pyproject(path: Path) -> dict | None:
    """The `[tool.porter]` table of a pyproject.toml, or None when it has none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    tool = data.get("tool", {})
    table = tool.get("porter") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.porter] must be a table")
    return table


def settings_from_table(table: dict, path: Path) -> Settings:
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown [tool.porter] option(s): {', '.join(sorted(unknown))}")
    root = path.parent
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{path}: [tool.porter] per-file-ignores must be a table of glob = [ids]")
    pfi = []
    for glob, codes in per_file.items():
        codes = [codes] if isinstance(codes, str) else codes
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{path}: per-file-ignores.{glob!r} must be a list of rule ids")
        pfi.append((glob, tuple(c.upper() for c in codes)))
    length = table.get("line-length", 1)  # read by porter.rewrite.linelength (markers wrap to it)
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ConfigError(f"{path}: [tool.porter] line-length must be a positive integer")
    target = table.get("target", DEFAULT_TARGET)
    if not isinstance(target, str):
        raise ConfigError(f"{path}: [tool.porter] target must be a string")
    rule_paths = _strings(table, "rule-paths", path) or ()
    return Settings(
        root=root,
        config_file=path,
        select=_upper(_strings(table, "select", path)),
        extend_select=_upper(_strings(table, "extend-select", path)) or (),
        ignore=_upper(_strings(table, "ignore", path)) or (),
        per_file_ignores=tuple(pfi),
        exclude=_strings(table, "exclude", path) or DEFAULT_EXCLUDE,
        extend_exclude=_strings(table, "extend-exclude", path) or (),
        target=check_target(target, f"{path}: [tool.porter] target"),
        rule_paths=tuple((root / p).resolve() for p in rule_paths),
        raw=table,
    )


def _upper(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(v.upper() for v in values)


class ConfigResolver:
    """Finds the settings that govern each directory, reading each pyproject.toml once."""

    def __init__(self, overrides: Overrides, cwd: Path | None = None) -> None:
        self.overrides = overrides
        self.cwd = (cwd or Path.cwd()).resolve()
        self._by_dir: dict[Path, Settings] = {}
        self._by_path: dict[str, Settings] = {}

    def for_path(self, path: Path) -> Settings:
        # asked several times per file in a run: remembered by the path as given (no stat, no
        # absolute path built again)
        key = str(path)
        cached = self._by_path.get(key)
        if cached is None:
            path = path.absolute()
            directory = path if path.is_dir() else path.parent
            cached = self._by_path[key] = self._for_dir(directory)
        return cached

    def _for_dir(self, directory: Path) -> Settings:
        cached = self._by_dir.get(directory)
        if cached is not None:
            return cached
        candidate = directory / "pyproject.toml"
        table = read_pyproject(candidate) if candidate.is_file() else None
        if table is not None:
            settings = self.overrides.apply(settings_from_table(table, candidate))
        elif directory.parent != directory:
            settings = self._for_dir(directory.parent)
        else:
            settings = self.overrides.apply(Settings(root=self.cwd))
        self._by_dir[directory] = settings
        return settings
