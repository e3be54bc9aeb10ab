"""What porting one file produces: the ported text and one Change per site for the report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Change:
    """One site in the port report."""

    rule_id: str
    line: int
    col: int
    # fixed | marked | unsafe-skipped | informational
    action: str
    detail: str = ""
    # What matched (a qualified name, `keyword=value`): markers and the report name it.
    name: str = ""
    # Kernel-swap sites (porter.rewrite.swaps): "swapped" (detail: what it now calls) or "not-swapped"
    # (detail: why); "" for every other site.
    swap: str = ""
    # A not-swapped site whose marker is another rule's (the NRN415 argument in its call): that rule's id.
    covered_by: str = ""


@dataclass
class FilePort:
    path: str
    original: str
    ported: str
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    # The source's own encoding (BOM / PEP 263 cookie, as read): the ported text is written in it.
    encoding: str = "utf-8"
    # Where the helpers porter added are, for sharing them over a package (shared_helpers.HelperShape);
    # False: nothing to share; None: not worked out yet (sharing does it).
    helper_shape: object | None = None
    # A port the narrow port cut: how it spliced the file (shape_facts.CutFile), so that the helper
    # shape needs no parse of the whole ported text. Not kept past the shape (it holds lint's tree).
    cut: object | None = field(default=None, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return self.ported != self.original
