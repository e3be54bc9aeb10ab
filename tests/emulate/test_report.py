"""The run report: merged over processes, text / JSON / Markdown, the HBM warning."""

from __future__ import annotations

import json

from porter.emulate.report import GIB, RunReport


def part(peak: int, sort_calls: int, source: str) -> dict:
    return {"platform": "trn2", "hbm_per_device": 24 * GIB, "hbm_source": "Trainium2 docs", "peak_bytes": peak,
            "ops": [{"op": "sort", "verdict": "CPU_FALLBACK", "basis": "doc-fallback", "count": sort_calls,
                     "sources": [source]},
                    {"op": "mm", "verdict": "Y", "basis": "core-aten", "count": 10, "sources": []}],
            "kernel_calls": [{"kernel": "rmsnorm", "path": "NKI simulator", "count": 2}],
            "kernel_stats": {"rmsnorm": {"instructions": 12}},
            "autocast_casts": [{"op": "linear", "dtype": "bfloat16", "count": 3}],
            "graphs": [{"id": 0, "ops": 4, "source": "a.py:3 (f)"}], "graph_breaks": [], "compile_warnings": []}


def test_parts_merge_and_every_format_writes(tmp_path):
    report = RunReport.from_states([part(1024, 1, "a.py:9 (main)"), part(30 * GIB, 2, "b.py:4 (worker)")],
                                   command=["python", "a.py"], exit_code=0)
    data = report.to_dict()
    assert data["ops_by_verdict"] == {"CPU_FALLBACK": 3, "Y": 20}
    assert data["cpu_fallbacks"][0]["sources"] == ["a.py:9 (main)", "b.py:4 (worker)"]
    assert data["kernel_calls"] == [{"kernel": "rmsnorm", "path": "NKI simulator", "count": 4}]
    assert data["kernel_stats"]["rmsnorm"]["instructions"] == 24
    assert data["peak_device_bytes"] == 30 * GIB
    assert any("exceeds the 24 GiB" in w for w in data["warnings"])
    for name in ("r.json", "r.md", "r.txt"):
        report.write(tmp_path / name)
    assert json.loads((tmp_path / "r.json").read_text())["processes"] == 2
    assert "| `aten::sort` | CPU_FALLBACK |" in (tmp_path / "r.md").read_text()
    text = (tmp_path / "r.txt").read_text()
    assert "CPU_FALLBACK aten::sort  [a.py:9 (main)]" in text and "rmsnorm x4 (NKI simulator)" in text
