"""`porter parity --html FILE`: one self-contained page (inline CSS and SVG, no script, no network)
with the verdict, the per-output table, the error through the layers (log scale), and per output
the histograms and QQ plot of the candidate's and the baseline's errors."""

from __future__ import annotations

from html import escape

from porter.parity.output import _fmt, _fmt_cosine, _ratio, verdict_line
from porter.parity.svg import histogram, line_chart_log, qq_plot

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.badge { padding: 3px 10px; border-radius: 4px; color: white; font-weight: bold; }
.pass { background: #2e7d32; } .marginal { background: #ef6c00; } .fail { background: #c62828; }
.error { background: #6a1b9a; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; font-family: monospace; }
tr.bad td { background: #fdecea; } tr.blamed td { background: #fff3e0; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
pre { background: #f5f5f5; padding: 10px; overflow-x: auto; }
"""


def _table(headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f'<tr class="{cls}">' + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"
                   for cls, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _outputs(result: dict) -> str:
    ratio = result.get("verdict_mode") == "ratio"
    rows = []
    for o in result.get("outputs", []):
        cls = "" if o.get("passed") else "bad"
        if ratio:
            rows.append((cls, [o["name"], o.get("verdict", ""), _ratio(o), _fmt(o.get("candidate_error")),
                               _fmt(o.get("baseline_error")), f"{_fmt(o['max_abs'])} at {tuple(o['max_abs_index'])}",
                               _fmt(o.get("baseline_max_abs")), _fmt_cosine(o["cosine"]), o.get("problem", "")]))
        else:
            rows.append((cls, [o["name"], "pass" if o["passed"] else "FAIL",
                               f"{_fmt(o['max_abs'])} at {tuple(o['max_abs_index'])}", _fmt(o["max_rel"]),
                               _fmt(o["mean_abs"]), _fmt(o["p99_abs"]), _fmt_cosine(o["cosine"]),
                               _fmt(o["mismatch_percent"]), _fmt(o["required_atol"]), o.get("problem", "")]))
    headers = (["output", "verdict", "error ratio", "‖cand − ref‖", "‖baseline − ref‖", "max abs",
                "baseline max abs", "cosine", "problem"] if ratio else
               ["output", "pass", "max abs", "max rel", "mean abs", "p99", "cosine", "mismatch %", "needed atol",
                "problem"])
    return _table(headers, rows)


def _layers(result: dict) -> str:
    layers = result.get("layers") or []
    if not layers:
        return "<p>Per-layer comparison not run (pass <code>--layers</code>).</p>"
    ratio = result.get("verdict_mode") == "ratio"
    blamed = result.get("first_divergence")
    labels = [row["module"] for row in layers]
    marked = labels.index(blamed) if blamed in labels else None
    series: dict[str, list[float]] = {}
    hlines = {}
    if ratio:
        series["error ratio"] = [float(row.get("ratio") or 0.0) for row in layers]
        hlines = {f"pass ≤ {result.get('thresholds', {}).get('pass', 1.2)}":
                  float(result.get("thresholds", {}).get("pass", 1.2))}
    else:
        series["relative error"] = [float(row.get("rel_error") or 0.0) for row in layers]
    series["max abs (candidate)"] = [float(row.get("max_abs") or 0.0) for row in layers]
    if ratio:
        series["max abs (baseline)"] = [float(row.get("baseline_max_abs") or 0.0) for row in layers]
    chart = line_chart_log("error through the layers", labels, series, marked=marked, hlines=hlines,
                           y_label="error (log scale)")
    rows = []
    for row in layers:
        cls = "blamed" if row["module"] == blamed else ("" if row.get("passed") else "bad")
        rows.append((cls, [row["module"], "yes" if row.get("passed") else "no",
                           "yes" if row.get("inputs_match") else "no"]
                     + ([_ratio(row), _ratio({"ratio": row.get("input_ratio")})] if ratio else [])
                     + [_fmt(row.get("rel_error")), _fmt(row.get("max_abs"))]))
    headers = ["module call", "output matches", "inputs match"] + (["error ratio", "input ratio"] if ratio else []) \
        + ["rel. error", "max abs"]
    note = (f"<p>First divergence: <b>{escape(blamed)}</b> — the smallest module, in execution order, whose "
            f"inputs match and whose output does not.</p>" if blamed else "")
    return f'<div class="chart">{chart}</div>{note}{_table(headers, rows)}'


def _distributions(result: dict) -> str:
    blocks = []
    for name, dist in (result.get("distributions") or {}).items():
        if "bins" not in dist:
            continue
        hists = {"candidate − reference": dist.get("candidate_histogram", [])}
        if "baseline_histogram" in dist:
            hists["baseline − reference"] = dist["baseline_histogram"]
        charts = [histogram(f"{name} error histogram", dist["bins"], hists)]
        if "baseline_quantiles" in dist and "candidate_quantiles" in dist:
            charts.append(qq_plot(f"{name} QQ", dist["baseline_quantiles"], dist["candidate_quantiles"],
                                  "baseline error", "candidate error"))
        blocks.append(f"<h3><code>{escape(name)}</code></h3><div class=\"charts\">{''.join(charts)}</div>")
    if not blocks:
        return "<p>No floating-point outputs to show.</p>"
    return "".join(blocks)


def render_html(result: dict) -> str:
    model = str(result.get("model") or "")
    if "error" in result:
        status, body = "error", (f"<pre>{escape(str(result['error']))}</pre>"
                                 + "".join(f"<p>{escape(k)}: <code>{escape(str(result[k]))}</code></p>"
                                           for k in ("kind", "stage", "op", "where") if result.get(k)))
    else:
        status = result.get("verdict") or ("pass" if result.get("passed") else "fail")
        notes = "".join(f"<li>{escape(n)}</li>" for n in result.get("notes", []))
        body = (f"<p>Candidate: {escape(str(result.get('candidate', '')))}</p>"
                f"<p>{escape(verdict_line(result))}</p>" + (f"<ul>{notes}</ul>" if notes else "")
                + "<h2>Outputs</h2>" + _outputs(result)
                + "<h2>Through the layers</h2>" + _layers(result)
                + "<h2>Error distributions</h2>" + _distributions(result))
    badge = f'<span class="badge {escape(status)}">{escape(status.upper())}</span>'
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>porter parity {escape(model)}"
            f"</title><style>{STYLE}</style></head><body><h1>porter parity <code>{escape(model)}</code> {badge}</h1>"
            f"{body}</body></html>\n")
