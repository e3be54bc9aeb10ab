"""Which rules run: `select` / `extend-select` / `ignore` by id or prefix, like ruff.

Between a selector and an ignore that both match a rule, the more specific (longer) one wins, so
`select = ["NRN101"]` with `ignore = ["NRN1"]` keeps NRN101. Rules marked `default = false` run
only when a selector more specific than the bare `NRN` names them. porter's own diagnostics
(NRN0xx) always run unless ignored by name.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from porter.config import Settings
from porter.source.catalogue import Catalogue, Rule

ALL_SELECTORS = {"ALL", "NRN"}


class SelectionError(ValueError):
    pass


def _normalise(selectors: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("NRN" if s.upper() == "ALL" else s.upper() for s in selectors)


def _best(rule_id: str, selectors: tuple[str, ...]) -> str | None:
    hits = [s for s in selectors if rule_id.startswith(s)]
    return max(hits, key=len) if hits else None


def validate_selectors(selectors: tuple[str, ...], catalogue: Catalogue, where: str) -> None:
    for selector in _normalise(selectors):
        if not any(r.id.startswith(selector) for r in catalogue):
            raise SelectionError(f"{where}: {selector!r} matches no rule (see `porter rules`)")


def select_rules(catalogue: Catalogue, settings: Settings) -> list[Rule]:
    return _selection(catalogue, settings)[0]


def ignored_rules(catalogue: Catalogue, settings: Settings) -> list[Rule]:
    """Rules a selector picks but an ignore drops. They still own the constructs they match, so
    ignoring NRN120 silences `torch.cuda.is_available()` instead of handing it to the
    `torch.cuda.*` catch-all; rules that were never selected take no part."""
    return _selection(catalogue, settings)[1]


def _selection(catalogue: Catalogue, settings: Settings) -> tuple[list[Rule], list[Rule]]:
    select = _normalise(settings.select if settings.select is not None else ("NRN",))
    select = select + _normalise(settings.extend_select)
    ignore = _normalise(settings.ignore)
    chosen: list[Rule] = []
    dropped_rules: list[Rule] = []
    for rule in catalogue:
        if not rule.applies_to(settings.target):
            continue
        picked = _best(rule.id, select)
        dropped = _best(rule.id, ignore)
        if rule.id.startswith("NRN0") and not rule.matchers:
            if dropped is None:
                chosen.append(rule)
            continue
        if picked is None or (not rule.default and picked == "NRN"):
            continue
        if dropped is not None and len(dropped) >= len(picked):
            dropped_rules.append(rule)
            continue
        chosen.append(rule)
    return chosen, dropped_rules


def per_file_ignored(path: Path, settings: Settings) -> tuple[str, ...]:
    """Rule prefixes `per-file-ignores` drops for this file."""
    if not settings.per_file_ignores:
        return ()
    try:
        rel = path.absolute().relative_to(settings.root).as_posix()
    except ValueError:
        rel = path.as_posix()
    codes: list[str] = []
    for glob, ids in settings.per_file_ignores:
        if fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(path.name, glob):
            codes.extend(ids)
    return tuple(codes)
