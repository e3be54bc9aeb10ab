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


def _title(result: dict) -> str:
    model = result.get("model")
    return f"porter parity `{model}`" if model else "porter parity"


def _ratio(o: dict) -> str:
    r = o.get("ratio")
    return "—" if r is None else _fmt(float(r))


def verdict_line(result: dict) -> str:
    """What was compared with what, and how it was judged."""
    if result.get("verdict_mode") == "ratio":
        t = result.get("thresholds", {})
        return (f"Three-run verdict at {result.get('target_dtype')} ({result.get('precision_mode')}): error ratio = "
                f"‖candidate − {result.get('yardstick')}‖ / ‖{result.get('baseline')} − {result.get('yardstick')}‖; "
                f"pass ≤ {t.get('pass')}, marginal ≤ {t.get('marginal')}"
                + (" (allowed)" if t.get("allow_marginal") else ""))
    return "Tolerance verdict: every element within atol + rtol·|reference|"


def _markdown_layers(result: dict) -> list[str]:
    rows = result.get("layers") or []
    if not rows:
        return []
    ratio = result.get("verdict_mode") == "ratio"
    out = ["", f"<details><summary>Per layer ({len(rows)} module calls)</summary>", "",
           "| module | pass | " + ("error ratio | " if ratio else "") + "rel. error | max abs |",
           "|---|---|" + ("---|" if ratio else "") + "---|---|"]
    for row in rows:
        mark = "✅" if row.get("passed") else "❌"
        blamed = " ⬅ first divergence" if row["module"] == result.get("first_divergence") else ""
        out.append(f"| `{row['module']}`{blamed} | {mark} | " + (f"{_ratio(row)} | " if ratio else "")
                   + f"{_fmt(row.get('rel_error', 0.0))} | {_fmt(row.get('max_abs', 0.0))} |")
    return out + ["", "</details>"]


def render_markdown(result: dict) -> str:
    if "error" in result:
        where = "".join(f"\n{key}: {result[key]}" for key in ("stage", "op", "where") if result.get(key))
        return f"### {_title(result)}: ⚠️ error\n\n```\n{result['error']}{where}\n```\n"
    if result.get("mode") == "save-golden":
        return f"### {_title(result)}: golden saved\n\n{_saved_only(result)}\n"
    status = {"pass": "✅ pass", "marginal": "⚠️ marginal", "fail": "❌ mismatch"}.get(
        result.get("verdict", ""), "✅ pass" if result.get("passed") else "❌ mismatch")
    out = [f"### {_title(result)}: {status}", "", f"Candidate: {result.get('candidate', '')}", "",
           verdict_line(result), ""]
    if result.get("verdict_mode") == "ratio":
        out += ["| output | verdict | error ratio | ‖cand − ref‖ | ‖baseline − ref‖ | max abs (index) | "
                "baseline max abs | cosine | problem |", "|---|---|---|---|---|---|---|---|---|"]
        for o in result.get("outputs", []):
            mark = {"pass": "✅", "marginal": "⚠️", "fail": "❌"}.get(o.get("verdict"), "✅" if o["passed"] else "❌")
            problem = o.get("problem", "").replace("|", "\\|")
            out.append(f"| `{o['name']}` | {mark} {o.get('verdict', '')} | {_ratio(o)} | "
                       f"{_fmt(o.get('candidate_error'))} | {_fmt(o.get('baseline_error'))} | "
                       f"{_fmt(o['max_abs'])} {tuple(o['max_abs_index'])} | {_fmt(o.get('baseline_max_abs'))} | "
                       f"{_fmt_cosine(o['cosine'])} | {problem} |")
    else:
        out += ["| output | pass | max abs (index) | max rel | mean abs | p99 | cosine | mismatch % | "
                "NaN/Inf ref/cand | needed atol | problem |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for o in result.get("outputs", []):
            mark = "✅" if o["passed"] else "❌"
            problem = o.get("problem", "").replace("|", "\\|")
            out.append(f"| `{o['name']}` | {mark} | {_fmt(o['max_abs'])} {tuple(o['max_abs_index'])} | "
                       f"{_fmt(o['max_rel'])} | {_fmt(o['mean_abs'])} | {_fmt(o['p99_abs'])} | "
                       f"{_fmt_cosine(o['cosine'])} | {_fmt(o['mismatch_percent'])} | {_nonfinite(o)} | "
                       f"{_fmt(o['required_atol'])} | {problem} |")
    if result.get("first_divergence") and "training" in result:
        out += ["", f"First divergence: {result['first_divergence']}"]
    elif result.get("first_divergence"):
        out += ["", f"First diverging module: `{result['first_divergence']}`"]
    out += [f"- note: {note}" for note in result.get("notes", [])]
    out += _markdown_layers(result)
    return "\n".join(out) + "\n"


def render_junit(result: dict) -> str:
    """One test case per output, named `MODEL: OUTPUT` in class `porter.parity.MODEL`."""
    outputs = result.get("outputs", [])
    model = str(result.get("model") or "model")
    suite_name = f"porter parity: {model}"
    classname = f"porter.parity.{model}"
    if "error" in result:
        suite = ET.Element("testsuite", name=suite_name, tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", name=f"{model}: parity", classname=classname)
        error = ET.SubElement(case, "error", message=str(result["error"]).splitlines()[0] if result["error"] else "")
        error.text = str(result.get("traceback") or result["error"])
        ET.indent(suite)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
    if result.get("mode") == "save-golden":  # nothing compared: no test cases
        suite = ET.Element("testsuite", name=suite_name, tests="0", failures="0", errors="0")
        ET.SubElement(suite, "system-out").text = _saved_only(result)
        ET.indent(suite)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
    failures = sum(1 for o in outputs if not o["passed"])
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(outputs)), failures=str(failures),
                       errors="0")
    for o in outputs:
        case = ET.SubElement(suite, "testcase", name=f"{model}: {o['name']}", classname=classname)
        if not o["passed"]:
            failure = ET.SubElement(case, "failure", message=o.get("problem") or "values differ")
            failure.text = (f"max abs {o['max_abs']} at {o['max_abs_index']}, max rel {o['max_rel']}, "
                            f"mismatch {o['mismatch_percent']}% (rtol {o['rtol']}, atol {o['atol']})")
            if o.get("ratio") is not None:
                failure.text += f"; error ratio {o['ratio']:.3g} ({o.get('verdict')})"
            if result.get("first_divergence"):
                failure.text += f"; first divergence: {result['first_divergence']}"
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


def print_table(result: dict, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console(width=max(Console().width, 160))
    if result.get("mode") == "save-golden":
        console.print(escape(_saved_only(result)))
        return
    table = Table(title=escape(f"porter parity {result.get('model', '')} — {result.get('candidate', '')}"))
    ratio = result.get("verdict_mode") == "ratio"
    columns = (("output", "verdict", "error ratio", "‖cand−ref‖", "‖base−ref‖", "max abs", "at", "base max abs",
                "cosine") if ratio else
               ("output", "pass", "max abs", "at", "max rel", "mean abs", "p99", "cosine", "mismatch %",
                "NaN/Inf ref/cand", "needed atol"))
    for column in columns:
        table.add_column(column)
    for o in result.get("outputs", []):
        if ratio:
            table.add_row(escape(o["name"]), o.get("verdict") or ("pass" if o["passed"] else "fail"), _ratio(o),
                          _fmt(o.get("candidate_error")), _fmt(o.get("baseline_error")), _fmt(o["max_abs"]),
                          str(tuple(o["max_abs_index"])), _fmt(o.get("baseline_max_abs")), _fmt_cosine(o["cosine"]))
        else:
            table.add_row(escape(o["name"]), "yes" if o["passed"] else "NO", _fmt(o["max_abs"]),
                          str(tuple(o["max_abs_index"])), _fmt(o["max_rel"]), _fmt(o["mean_abs"]), _fmt(o["p99_abs"]),
                          _fmt_cosine(o["cosine"]), _fmt(o["mismatch_percent"]), _nonfinite(o),
                          _fmt(o["required_atol"]))
    console.print(escape(verdict_line(result)))
    console.print(table)
    for o in result.get("outputs", []):
        if o.get("problem"):
            console.print(f"{escape(o['name'])}: {escape(o['problem'])}")
    for note in result.get("notes", []):
        console.print(f"note: {escape(note)}")
    if result.get("first_divergence"):
        label = "first divergence" if "training" in result else "first diverging module"
        console.print(f"{label}: [bold]{escape(result['first_divergence'])}[/bold]")
    verdict = result.get("verdict")
    if verdict == "marginal":
        console.print("[yellow]MARGINAL[/yellow]" + (" (allowed)" if result.get("passed") else ""))
    else:
        console.print("[green]PASS[/green]" if result.get("passed") else "[red]MISMATCH[/red]")
