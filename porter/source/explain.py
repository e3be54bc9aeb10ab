"""`porter rule ID`: one rule as Markdown, generated from its catalogue entry."""

from __future__ import annotations

from porter.source.catalogue import TARGETS, Rule

APPLICABILITY_TEXT = {
    "safe": "safe fix (applied by `porter port`)",
    "unsafe": "unsafe fix (applied with `--unsafe-fixes`)",
    "manual": "manual: `porter port` leaves a `# porter:` marker",
    "none": "no change needed or possible",
}


def explain(rule: Rule) -> str:
    out = [f"# {rule.id} {rule.name}", "", f"**{rule.title}**", ""]
    out += [f"Category: {rule.category} · severity: {rule.severity} · targets: {', '.join(rule.targets)}"]
    if not rule.default:
        out += ["", "Off by default: enable it with `--select " + rule.id + "`."]
    out += ["", "## What it detects", "", rule.detects, "", "## Why it matters on Neuron", "", rule.why]
    if rule.docs:
        out += ["", "## Details", "", rule.docs]
    if rule.invalid:
        out += ["", "## Example", "", "```python", rule.invalid[0].code.strip("\n"), "```"]
    out += ["", "## Fix per target", ""]
    for target in TARGETS:
        fix = rule.fix_for(target)
        line = f"- **{target}**: {APPLICABILITY_TEXT[fix.applicability]}"
        if fix.result:
            line += f". {fix.result}"
        out.append(line)
        if fix.example:
            out += ["", "  ```python", *("  " + ln for ln in fix.example.strip("\n").splitlines()), "  ```"]
    return "\n".join(out) + "\n"
