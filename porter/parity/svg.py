"""Small inline-SVG charts for the HTML report: no plotting library, no script, opens offline."""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 90
COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")


def _log_range(values: list[float]) -> tuple[float, float]:
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return -1.0, 1.0
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return (low - 1, high + 1) if low == high else (low, high)


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
            f'font-family="sans-serif" font-size="11">',
            f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
            f'fill="#fafafa" stroke="#999"/>',
            f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>',
            f'<text x="14" y="{(HEIGHT - BOTTOM + TOP) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(HEIGHT - BOTTOM + TOP) / 2})">{escape(y_label)}</text>']


def line_chart_log(title: str, labels: list[str], series: dict[str, list[float]], *, marked: int | None = None,
                   hlines: dict[str, float] | None = None, y_label: str = "") -> str:
    """Series over labelled x positions, log-scale y; zeros and non-finite values are drawn at the
    bottom / top edge as hollow points. `marked` draws a vertical line at one position."""
    values = [v for s in series.values() for v in s] + list((hlines or {}).values())
    low, high = _log_range(values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(labels), 2)

    def x(i: int) -> float:
        return LEFT + plot_w * i / (n - 1)

    def y(v: float) -> float:
        if not math.isfinite(v):
            return TOP
        if v <= 0:
            return TOP + plot_h
        return TOP + plot_h * (1 - (min(max(math.log10(v), low), high) - low) / (high - low))

    parts = _frame(title, "module calls in execution order", y_label)
    for exponent in range(int(low), int(high) + 1):
        yy = y(10.0 ** exponent)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">1e{exponent}</text>')
    for name, level in (hlines or {}).items():
        yy = y(level)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#555" '
                     f'stroke-dasharray="5 4"/><text x="{WIDTH - RIGHT - 4}" y="{yy - 4:.1f}" '
                     f'text-anchor="end">{escape(name)}</text>')
    if marked is not None:
        parts.append(f'<line x1="{x(marked):.1f}" x2="{x(marked):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                     f'stroke="#ff7f0e" stroke-width="2"/>')
    step = max(1, len(labels) // 24)
    for i, label in enumerate(labels):
        if i % step == 0 or i == marked:
            parts.append(f'<text x="{x(i):.1f}" y="{TOP + plot_h + 8}" font-size="9" text-anchor="end" '
                         f'transform="rotate(-50 {x(i):.1f} {TOP + plot_h + 8})">{escape(label[-28:])}</text>')
    for k, (name, data) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(data))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{points}"/>')
        for i, v in enumerate(data):
            hollow = v <= 0 or not math.isfinite(v)
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.6" fill="{"white" if hollow else color}" '
                         f'stroke="{color}"><title>{escape(labels[i])}: {escape(name)} = {v:.4g}</title></circle>')
        parts.append(f'<rect x="{LEFT + 10}" y="{TOP + 8 + 16 * k}" width="12" height="4" fill="{color}"/>'
                     f'<text x="{LEFT + 28}" y="{TOP + 13 + 16 * k}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(title: str, bins: list[float], histograms: dict[str, list[float]]) -> str:
    """Overlaid histograms over shared bins (signed error)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM + 40
    top = max((max(h) for h in histograms.values() if h), default=1.0) or 1.0
    parts = [p.replace(f'height="{HEIGHT - TOP - BOTTOM}"', f'height="{plot_h}"') for p in
             _frame(title, "signed error vs the reference", "count")]
    parts[0] = parts[0]
    width = plot_w / max(len(bins) - 1, 1)
    for k, (name, counts) in enumerate(histograms.items()):
        color = COLORS[k % len(COLORS)]
        for i, count in enumerate(counts):
            h = plot_h * count / top
            parts.append(f'<rect x="{LEFT + i * width:.1f}" y="{TOP + plot_h - h:.1f}" width="{width:.1f}" '
                         f'height="{h:.1f}" fill="{color}" fill-opacity="0.45"><title>{escape(name)} '
                         f'[{bins[i]:.3g}, {bins[i + 1]:.3g}): {count:g}</title></rect>')
        parts.append(f'<rect x="{LEFT + 10}" y="{TOP + 8 + 16 * k}" width="12" height="8" fill="{color}" '
                     f'fill-opacity="0.6"/><text x="{LEFT + 28}" y="{TOP + 16 + 16 * k}">{escape(name)}</text>')
    for frac in (0.0, 0.5, 1.0):
        value = bins[0] + frac * (bins[-1] - bins[0])
        parts.append(f'<text x="{LEFT + frac * plot_w:.1f}" y="{TOP + plot_h + 14}" '
                     f'text-anchor="middle">{value:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def qq_plot(title: str, x_quantiles: list[float], y_quantiles: list[float], x_name: str, y_name: str) -> str:
    """Quantiles of one error distribution against another's; on the diagonal when they agree."""
    size = 300
    pad = 50
    values = x_quantiles + y_quantiles
    low, high = min(values), max(values)
    if high <= low:
        high = low + 1e-12

    def s(v: float) -> float:
        return pad + (size - 2 * pad + 40) * (v - low) / (high - low)

    inner = size - pad + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 40}" height="{size + 40}" '
             f'viewBox="0 0 {size + 40} {size + 40}" role="img" aria-label="{escape(title)}" font-family="sans-serif" '
             f'font-size="11"><rect x="{pad}" y="{size + 40 - inner}" width="{inner - pad}" height="{inner - pad}" '
             f'fill="#fafafa" stroke="#999"/>',
             f'<line x1="{s(low):.1f}" y1="{size + 40 - s(low):.1f}" x2="{s(high):.1f}" y2="{size + 40 - s(high):.1f}" '
             f'stroke="#999" stroke-dasharray="4 3"/>']
    for a, b in zip(x_quantiles, y_quantiles, strict=False):
        parts.append(f'<circle cx="{s(a):.1f}" cy="{size + 40 - s(b):.1f}" r="2.5" fill="{COLORS[0]}"/>')
    parts.append(f'<text x="{(size + 40) / 2}" y="{size + 34}" text-anchor="middle">{escape(x_name)} quantiles '
                 f'({low:.2g} … {high:.2g})</text>')
    parts.append(f'<text x="12" y="{(size + 40) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {(size + 40) / 2})">{escape(y_name)} quantiles</text></svg>')
    return "".join(parts)
