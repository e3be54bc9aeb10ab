"""The port report, in JSON and Markdown: what was found, fixed, marked, and what is left to do.

The effort estimate follows SYCLomatic's analysis mode: none (nothing left), low (minutes per
site), medium (hours), high (no equivalent; a rewrite). Each manual item's effort comes from its
rule's `effort` in the catalogue.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from porter import __version__
from porter.rewrite.requirements import gained, snippet
from porter.rewrite.swaps import NOT_SWAPPED, SWAPPED
from porter.rewrite.tree_port import TreePort

EFFORT_ORDER = ("none", "low", "medium", "high")
NOTEBOOK_REASON = "notebook: porter port does not rewrite notebooks; port this cell by hand"
STUB_REASON = "type stub: porter port does not rewrite stubs (they never run); update the declaration by hand"
# A Python file porter could not port (it does not parse, cannot be decoded, ...): unknown work,
# at least a person's look at the file.
FAILED_FILE_EFFORT = "medium"
# A swapped site's detail (porter.rewrite.swaps).
NOW_CALLS = "now calls "


def build_report(result: TreePort) -> dict:
    catalogue = result.catalogue
    per_rule: Counter = Counter()
    actions: Counter = Counter()
    manual = []
    swaps = []
    not_swapped = []
    for port in result.files:
        for change in port.changes:
            per_rule[change.rule_id] += 1
            actions[change.action] += 1
            where = {"file": port.path, "line": change.line, "col": change.col, "rule": change.rule_id}
            if change.swap == SWAPPED:
                swaps.append({**where, "calls": change.detail.removeprefix(NOW_CALLS)})
            elif change.swap == NOT_SWAPPED:
                not_swapped.append({**where, "name": change.name, "reason": change.detail})
            if change.action in ("marked", "unsafe-skipped") and not change.covered_by:
                # (a site covered by another rule's marker is that rule's item: its not-swapped row says why)
                rule = catalogue.get(change.rule_id) if catalogue else None
                fix = rule.fix_for(result.target) if rule else None
                effort = (fix.effort if fix else "low") if change.action == "marked" else "low"
                if change.swap == NOT_SWAPPED and fix and fix.transform == "swap-import":
                    what = f"not swapped: {change.detail}"
                else:
                    what = (fix.marker or fix.result).replace("{name}", change.name or "this construct") if fix else ""
                manual.append({
                    **where, "action": change.action, "effort": effort, "what": what, "detail": change.detail,
                })
    left = [(path, findings, NOTEBOOK_REASON) for path, findings in result.notebooks]
    left += [(path, findings, STUB_REASON) for path, findings in result.stubs]
    for path, findings, reason in left:
        for finding in findings:
            rule = catalogue.get(finding.rule_id) if catalogue else None
            fix = rule.fix_for(result.target) if rule else None
            per_rule[finding.rule_id] += 1
            actions["not-ported"] += 1
            manual.append({
                "file": path, "line": finding.line, "col": finding.col, "cell": finding.cell,
                "rule": finding.rule_id, "action": "not-ported", "effort": fix.effort if fix else "low",
                "what": (fix.marker or fix.result) if fix else finding.message, "detail": reason,
            })
    # A Python file that could not be ported (or written) is work left, whatever it contains.
    for path, message in dict(result.problems).items():
        if Path(path).suffix in (".py", ".pyi"):
            actions["not-ported"] += 1
            manual.append({"file": path, "line": 1, "col": 1, "rule": "", "action": "not-ported",
                           "effort": FAILED_FILE_EFFORT, "what": f"not ported: {message}", "detail": message})
    actionable = actions["fixed"] + actions["marked"] + actions["unsafe-skipped"] + actions["not-ported"]
    effort = "none"
    for item in manual:
        if EFFORT_ORDER.index(item["effort"]) > EFFORT_ORDER.index(effort):
            effort = item["effort"]
    rules = {}
    for rule_id, count in sorted(per_rule.items()):
        rule = catalogue.get(rule_id) if catalogue else None
        rules[rule_id] = {"count": count, "title": rule.title if rule else ""}
    return {
        "porter": __version__,
        "root": str(result.root),
        "target": result.target,
        "files_scanned": len(result.files),
        "files_changed": len(result.changed),
        "files_copied": result.copied,
        "constructs": sum(per_rule.values()),
        "fixed": actions["fixed"],
        "marked": actions["marked"],
        "unsafe_skipped": actions["unsafe-skipped"],
        "informational": actions["informational"],
        "not_ported": actions["not-ported"],
        "notebooks_not_ported": [path for path, _ in result.notebooks],
        "stubs_not_ported": [path for path, _ in result.stubs],
        "migrated_percent": round(100.0 * actions["fixed"] / actionable, 1) if actionable else 100.0,
        "effort": effort,
        "rules": rules,
        "manual": sorted(manual, key=lambda m: (m["file"], m["line"], m["col"])),
        "swaps": sorted(swaps, key=lambda m: (m["file"], m["line"], m["col"])),
        "not_swapped": sorted(not_swapped, key=lambda m: (m["file"], m["line"], m["col"])),
        "requirements": gained((p.path, p.original, p.ported) for p in result.files if not p.error),
        "problems": [{"file": p, "message": m} for p, m in result.problems],
        "skipped": [{"folder": p, "reason": r} for p, r in result.skipped],
    }


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def render_markdown(report: dict) -> str:
    out = [
        f"# porter port report: `{report['root']}` → {report['target']}",
        "",
        "| | |",
        "|---|---|",
        f"| files scanned | {report['files_scanned']} |",
        f"| files changed | {report['files_changed']} |",
        f"| CUDA constructs found | {report['constructs']} |",
        f"| fixed automatically | {report['fixed']} |",
        f"| marked for manual work | {report['marked']} |",
        f"| unsafe fixes not applied | {report['unsafe_skipped']} |",
        f"| informational | {report['informational']} |",
        f"| not ported (notebook cells, files that failed) | {report.get('not_ported', 0)} |",
        f"| migrated | {report['migrated_percent']}% |",
        f"| effort left | **{report['effort']}** |",
        "",
        "## Constructs per rule",
        "",
        "| rule | title | count |",
        "|---|---|---|",
    ]
    out += [f"| {rid} | {info['title']} | {info['count']} |" for rid, info in report["rules"].items()]
    if report.get("requirements"):
        out += ["", "## Runtime requirements the port added", "",
                "The ported code uses these; add them to the project's requirements:", "", "```text",
                snippet(report["requirements"]).rstrip("\n"), "```"]
    if report.get("swaps"):
        out += ["", "## Kernel swaps", "", "| where | rule | now calls |", "|---|---|---|"]
        out += [f"| `{item['file']}:{item['line']}` | {item['rule']} | `{item['calls']}` |" for item in report["swaps"]]
    if report.get("not_swapped"):
        out += ["", "## Not swapped", "", "| where | rule | what | why |", "|---|---|---|---|"]
        for item in report["not_swapped"]:
            why = item["reason"].replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{item['file']}:{item['line']}` | {item['rule']} | `{item['name']}` | {why} |")
    if report["manual"]:
        out += ["", "## Left to do", "", "| where | rule | effort | what |", "|---|---|---|---|"]
        for item in report["manual"]:
            what = item["what"].replace("|", "\\|").replace("\n", " ")
            if item["action"] == "unsafe-skipped":
                what = f"unsafe fix available (`--unsafe-fixes`): {what}"
            elif item["action"] == "not-ported" and item.get("cell") is not None:
                what = f"notebook not ported, by hand: {what}"
            where = f"{item['file']}:cell {item['cell']}:{item['line']}" if item.get("cell") is not None else \
                f"{item['file']}:{item['line']}"
            out.append(f"| `{where}` | {item['rule']} | {item['effort']} | {what} |")
    if report.get("triton_kernels"):
        out += ["", "## Triton kernels (`--verify`)", "", "| where | kernel | status | max abs error | why |",
                "|---|---|---|---|---|"]
        for k in report["triton_kernels"]:
            err = "-" if k["max_abs_error"] is None else f"{k['max_abs_error']:.2e}"
            why = k["reason"].replace("|", "\\|")
            out.append(f"| `{k['file']}:{k['line']}` | `{k['kernel']}` | {k['status']} | {err} | {why} |")
    if report.get("skipped"):
        out += ["", "## Not copied", ""]
        out += [f"- `{s['folder']}` ({s['reason']})" for s in report["skipped"]]
    if report["problems"]:
        out += ["", "## Problems", ""]
        out += [f"- `{p['file']}`: {p['message']}" for p in report["problems"]]
    return "\n".join(out) + "\n"


def skipped_summary(report: dict) -> str:
    """`skipped .venv (virtual environment), __pycache__ ×3 (bytecode cache)`, or ''."""
    groups: dict[tuple[str, str], int] = {}
    for item in report.get("skipped", ()):
        key = (Path(item["folder"]).name, item["reason"])
        groups[key] = groups.get(key, 0) + 1
    if not groups:
        return ""
    parts = [f"{name}{f' ×{n}' if n > 1 else ''} ({reason})" for (name, reason), n in groups.items()]
    return "skipped " + ", ".join(parts)


def write_report(report: dict, path: Path) -> None:
    text = render_json(report) if path.suffix == ".json" else render_markdown(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
