"""Text and JSON output for Triton -> NKI translation and verification results (no torch here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt_err(err: float | None) -> str:
    return "-" if err is None else f"{err:.2e}"


def text_lines(path: Path, reports: list[Any]) -> list[str]:
    lines = []
    for r in reports:
        head = f"{path}:{r.line}: {r.name}: {r.status}"
        if r.cases:
            head += f" (max abs error {_fmt_err(r.max_abs_error)} over {len(r.cases)} cases"
            stats = r.cases[-1].stats
            if stats:
                instr = sum(stats.get("instructions", {}).values())
                head += (f"; last case: {instr} instructions, {stats.get('hbm_to_sbuf_bytes', 0)} B HBM->SBUF, "
                         f"peak SBUF {stats.get('peak_sbuf_partition_bytes', 0)} B/partition")
            head += ")"
        lines.append(head)
        if r.mode:
            lines.append(f"    mode: {r.mode}" + (f"; {r.config_note}" if r.config_note else ""))
        if r.reason:
            lines.append(f"    {r.reason.splitlines()[0]}")
    return lines


def as_json(results: list[tuple[Path, list[Any]]]) -> str:
    return json.dumps([{"path": str(p), "kernels": [r.as_dict() for r in reps]} for p, reps in results], indent=2)


def summary(results: list[tuple[Path, list[Any]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, reps in results:
        for r in reps:
            counts[r.status] = counts.get(r.status, 0) + 1
    return counts
