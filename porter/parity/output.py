"""Writing a parity result: a rich table, JSON, JUnit XML, and Markdown for pull-request comments."""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree as ET


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"  # nan, inf and -inf read as such
    return str(value)


def _fmt_cosine(value) -> str:
    """At least 6 significant digits, and as many more as it takes (up to 12) for a cosine that is
    not 1 not to read as 1: 0.99982, 0.9999999. Closer to 1 than 1e-12 is the float64 rounding of
    the computation itself (identical tensors give 0.9999999999999996) and reads as 1."""
    if not isinstance(value, float) or not math.isfinite(value):
        return _fmt(value)
    for digits in range(6, 13):
        text = f"{value:.{digits}g}"
        if float(text) != 1.0:
            return text
    return "1"


def _nonfinite(o: dict) -> str:
    """NaN/Inf counts as reference/candidate, e.g. `0/3`."""
    return f"{o.get('reference_nonfinite', 0)}/{o.get('candidate_nonfinite', 0)}"


def _saved_only(result: dict) -> str:
    names = result.get("golden_outputs", [])
    return f"golden saved to {result.get('golden_saved')} ({len(names)} outputs); no candidate, nothing compared"


def render_markdown(result: dict) -> str:
    if "error" in result:
        return f"### porter parity: ⚠️ error\n\n```\n{result['error']}\n```\n"
    if result.get("mode") == "save-golden":
        return f"### porter parity: golden saved\n\n{_saved_only(result)}\n"
    status = "✅ pass" if result.get("passed") else "❌ mismatch"
    out = [f"### porter parity: {status}", "", f"Candidate: {result.get('candidate', '')}", "",
           "| output | pass | max abs (index) | max rel | mean abs | p99 | cosine | mismatch % | NaN/Inf ref/cand "
           "| needed atol | problem |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in result.get("outputs", []):
        mark = "✅" if o["passed"] else "❌"
        problem = o.get("problem", "").replace("|", "\\|")
        out.append(f"| `{o['name']}` | {mark} | {_fmt(o['max_abs'])} {tuple(o['max_abs_index'])} | "
                   f"{_fmt(o['max_rel'])} | {_fmt(o['mean_abs'])} | {_fmt(o['p99_abs'])} | "
                   f"{_fmt_cosine(o['cosine'])} | {_fmt(o['mismatch_percent'])} | {_nonfinite(o)} | "
                   f"{_fmt(o['required_atol'])} | {problem} |")
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
    if result.get("mode") == "save-golden":  # nothing compared: no test cases
        suite = ET.Element("testsuite", name="porter parity", tests="0", failures="0", errors="0")
        ET.SubElement(suite, "system-out").text = _saved_only(result)
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


def strict_json(value):
    """The value with every non-finite float as a string ("nan", "inf", "-inf"): JSON has no NaN or
    Infinity, and strict parsers (jq, JavaScript, Go) reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def render_json(result: dict) -> str:
    return json.dumps(strict_json(result), indent=2, default=str, allow_nan=False) + "\n"


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=max(Console().width, 160))
    if result.get("mode") == "save-golden":
        console.print(escape(_saved_only(result)))
        return
    table = Table(title=f"porter parity — {result.get('candidate', '')}")
    for column in ("output", "pass", "max abs", "at", "max rel", "mean abs", "p99", "cosine", "mismatch %",
                   "NaN/Inf ref/cand", "needed atol"):
        table.add_column(column)
    for o in result.get("outputs", []):
        table.add_row(escape(o["name"]), "yes" if o["passed"] else "NO", _fmt(o["max_abs"]),
                      str(tuple(o["max_abs_index"])), _fmt(o["max_rel"]), _fmt(o["mean_abs"]), _fmt(o["p99_abs"]),
                      _fmt_cosine(o["cosine"]), _fmt(o["mismatch_percent"]), _nonfinite(o), _fmt(o["required_atol"]))
    console.print(table)
    for o in result.get("outputs", []):
        if o.get("problem"):
            console.print(f"{escape(o['name'])}: {escape(o['problem'])}")
    if result.get("first_divergence"):
        console.print(f"first diverging module: [bold]{escape(result['first_divergence'])}[/bold]")
    for v in result.get("three_way", {}).get("outputs", []):
        console.print(escape(f"{v['output']}: {v['verdict']}"))
    console.print("[green]PASS[/green]" if result.get("passed") else "[red]MISMATCH[/red]")
