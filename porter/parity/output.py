"""Writing a parity result: a rich table, JSON, JUnit XML, and Markdown for pull-request comments."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def render_markdown(result: dict) -> str:
    if "error" in result:
        return f"### porter parity: ⚠️ error\n\n```\n{result['error']}\n```\n"
    status = "✅ pass" if result.get("passed") else "❌ mismatch"
    out = [f"### porter parity: {status}", "", f"Candidate: {result.get('candidate', '')}", "",
           "| output | pass | max abs (index) | max rel | mean abs | p99 | cosine | mismatch % | needed atol |",
           "|---|---|---|---|---|---|---|---|---|"]
    for o in result.get("outputs", []):
        mark = "✅" if o["passed"] else "❌"
        out.append(f"| `{o['name']}` | {mark} | {_fmt(o['max_abs'])} {tuple(o['max_abs_index'])} | "
                   f"{_fmt(o['max_rel'])} | {_fmt(o['mean_abs'])} | {_fmt(o['p99_abs'])} | {_fmt(o['cosine'])} | "
                   f"{_fmt(o['mismatch_percent'])} | {_fmt(o['required_atol'])} |")
    if result.get("first_divergence"):
        out += ["", f"First diverging module: `{result['first_divergence']}`"]
    for v in result.get("three_way", {}).get("outputs", []):
        out += [f"- `{v['output']}`: {v['verdict']}"]
    return "\n".join(out) + "\n"


def render_junit(result: dict) -> str:
    outputs = result.get("outputs", [])
    if "error" in result:
        suite = ET.Element("testsuite", name="porter parity", tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", name="parity", classname="parity")
        error = ET.SubElement(case, "error", message=str(result["error"]).splitlines()[0] if result["error"] else "")
        error.text = str(result.get("traceback") or result["error"])
        ET.indent(suite)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
    failures = sum(1 for o in outputs if not o["passed"])
    suite = ET.Element("testsuite", name="porter parity", tests=str(len(outputs)), failures=str(failures),
                       errors="0")
    for o in outputs:
        case = ET.SubElement(suite, "testcase", name=o["name"], classname="parity")
        if not o["passed"]:
            failure = ET.SubElement(case, "failure", message=o.get("problem") or "values differ")
            failure.text = (f"max abs {o['max_abs']} at {o['max_abs_index']}, max rel {o['max_rel']}, "
                            f"mismatch {o['mismatch_percent']}% (rtol {o['rtol']}, atol {o['atol']})")
            if result.get("first_divergence"):
                failure.text += f"; first diverging module: {result['first_divergence']}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str) + "\n"


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    table = Table(title=f"porter parity — {result.get('candidate', '')}")
    for column in ("output", "pass", "max abs", "at", "max rel", "mean abs", "p99", "cosine", "mismatch %",
                   "needed atol"):
        table.add_column(column)
    for o in result.get("outputs", []):
        table.add_row(o["name"], "yes" if o["passed"] else "NO", _fmt(o["max_abs"]), str(tuple(o["max_abs_index"])),
                      _fmt(o["max_rel"]), _fmt(o["mean_abs"]), _fmt(o["p99_abs"]), _fmt(o["cosine"]),
                      _fmt(o["mismatch_percent"]), _fmt(o["required_atol"]))
    console.print(table)
    if result.get("first_divergence"):
        console.print(f"first diverging module: [bold]{result['first_divergence']}[/bold]")
    for v in result.get("three_way", {}).get("outputs", []):
        console.print(f"{v['output']}: {v['verdict']}")
    console.print("[green]PASS[/green]" if result.get("passed") else "[red]MISMATCH[/red]")
