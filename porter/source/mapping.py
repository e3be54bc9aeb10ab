"""The CUDA construct → result per target table, generated from the catalogue (docs/mapping.md).

HIPIFY-style: the table is never edited by hand. `porter rules --output-format markdown` prints
it; a test keeps docs/mapping.md equal to that output.
"""

from __future__ import annotations

from porter.source.catalogue import TARGETS, Catalogue

SYMBOL = {"safe": "fix", "unsafe": "unsafe fix", "manual": "marker", "none": "—"}


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def render_mapping(catalogue: Catalogue) -> str:
    lines = [
        "# CUDA construct → Neuron, per target",
        "",
        "Generated from the rule catalogue in `rules/` by `porter rules --output-format markdown`;",
        "do not edit by hand. `fix` is applied by `porter port`; `unsafe fix` needs `--unsafe-fixes`;",
        "`marker` leaves a `# porter: NRNxxx` comment for manual work.",
        "",
        "| rule | construct | " + " | ".join(TARGETS) + " |",
        "|---|---|" + "---|" * len(TARGETS),
    ]
    for rule in catalogue:
        if rule.id.startswith("NRN0"):
            continue
        cells = []
        for target in TARGETS:
            if not rule.applies_to(target):
                cells.append("(not reported)")
                continue
            fix = rule.fix_for(target)
            text = SYMBOL[fix.applicability]
            if fix.result:
                text += f": {_cell(fix.result)}"
            cells.append(text)
        lines.append(f"| {rule.id} | {_cell(rule.title)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
