"""`porter nki upgrade`: legacy `neuronxcc.nki` (and NKI 0.6) kernels rewritten for current NKI (0.8).

Static: libcst only, no torch, no NKI import. `upgrade_source` upgrades one file's text;
`porter.translate.nki_upgrade.tree` walks a tree with `porter port`'s safety rules.
"""

from porter.translate.nki_upgrade.transform import Change, Report, upgrade_module

TARGETS = ("0.8",)


def upgrade_source(source: str, to: str = "0.8") -> tuple[str, Report]:
    """Upgrade one module's source to NKI `to`; markers `# porter: NRN7xx` name what is left."""
    if to not in TARGETS:
        raise ValueError(f"cannot upgrade to NKI {to}; supported: {', '.join(TARGETS)}")
    text, report, _legacy = upgrade_module(source)
    return text, report


__all__ = ["TARGETS", "Change", "Report", "upgrade_source"]
