"""The run report of an emulated run: text, JSON or Markdown, merged over every emulated process.

Each process of the program records a RunState (ops by verdict with source lines, CPU fallbacks,
NKI kernel calls and the simulator's figures, autocast casts, compiled graphs and breaks, peak device
memory); `porter run` merges them into one report.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1024 ** 3
VERDICT_ORDER = ("N", "CPU_FALLBACK", "unknown", "Y")


@dataclass
class RunReport:
    device: str = "neuron"
    command: list[str] = field(default_factory=list)
    exit_code: int | None = None
    processes: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the run itself (a script that does not exist)

    @classmethod
    def from_states(cls, states: list[dict], command: list[str] | None = None,
                    exit_code: int | None = None) -> RunReport:
        return cls(command=list(command or []), exit_code=exit_code, processes=list(states))

    @classmethod
    def from_dir(cls, directory: Path, command: list[str] | None = None, exit_code: int | None = None) -> RunReport:
        states = []
        for part in sorted(directory.glob("*.json")):
            try:
                states.append(json.loads(part.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a process killed while writing its part: the others still count
        return cls.from_states(states, command, exit_code)

    # ------------------------------------------------------------------------------------------ merged view

    def ops(self) -> list[dict]:
        merged: dict[str, dict] = {}
        for proc in self.processes:
            for op in proc.get("ops", []):
                entry = merged.setdefault(op["op"], {"op": op["op"], "verdict": op["verdict"], "basis": op["basis"],
                                                     "count": 0, "sources": []})
                entry["count"] += op["count"]
                entry["sources"] += [s for s in op["sources"] if s not in entry["sources"]]
        return sorted(merged.values(), key=lambda e: (VERDICT_ORDER.index(e["verdict"])
                                                      if e["verdict"] in VERDICT_ORDER else 9, -e["count"], e["op"]))

    def by_verdict(self) -> dict[str, int]:
        counts: Counter = Counter()
        for op in self.ops():
            counts[op["verdict"]] += op["count"]
        return dict(counts)

    def _sum_list(self, key: str, fields: tuple[str, ...]) -> list[dict]:
        counts: Counter = Counter()
        for proc in self.processes:
            for item in proc.get(key, []):
                counts[tuple(item[f] for f in fields)] += item["count"]
        return [dict(zip(fields, k, strict=True), count=n) for k, n in sorted(counts.items())]

    def kernel_calls(self) -> list[dict]:
        return self._sum_list("kernel_calls", ("kernel", "path"))

    def kernel_stats(self) -> dict[str, dict]:
        merged: dict[str, dict] = defaultdict(lambda: defaultdict(int))
        for proc in self.processes:
            for kernel, stats in proc.get("kernel_stats", {}).items():
                for name, value in stats.items():
                    if isinstance(value, (int, float)):
                        merged[kernel][name] += value
        return {k: dict(v) for k, v in merged.items()}

    def autocast_casts(self) -> list[dict]:
        return self._sum_list("autocast_casts", ("op", "dtype"))

    def graphs(self) -> list[dict]:
        return [g for proc in self.processes for g in proc.get("graphs", [])]

    def graph_breaks(self) -> list[dict]:
        return [b for proc in self.processes for b in proc.get("graph_breaks", [])]

    def peak(self) -> tuple[int, int, str]:
        """(peak device bytes of the busiest process, HBM per device, where that figure comes from)."""
        if not self.processes:
            return 0, 0, ""
        busiest = max(self.processes, key=lambda p: p.get("peak_bytes", 0))
        return busiest.get("peak_bytes", 0), busiest.get("hbm_per_device", 0), busiest.get("hbm_source", "")

    def warnings(self) -> list[str]:
        out = list(self.notes)
        peak, hbm, _ = self.peak()
        if hbm and peak > hbm:
            out.append(f"peak device memory {peak / GIB:.2f} GiB exceeds the {hbm / GIB:.0f} GiB of HBM per "
                       f"NeuronCore of {self.processes[0].get('platform', '')}: this run would not fit on one device")
        for proc in self.processes:
            out += proc.get("compile_warnings", [])
        return list(dict.fromkeys(out))

    def to_dict(self) -> dict:
        peak, hbm, source = self.peak()
        return {
            "device": self.device, "command": self.command, "exit_code": self.exit_code,
            "processes": len(self.processes),
            "platform": self.processes[0].get("platform") if self.processes else None,
            "ops_by_verdict": self.by_verdict(), "ops": self.ops(),
            "cpu_fallbacks": [op for op in self.ops() if op["verdict"] == "CPU_FALLBACK"],
            "unknown_ops": [op for op in self.ops() if op["verdict"] == "unknown"],
            "kernel_calls": self.kernel_calls(), "kernel_stats": self.kernel_stats(),
            "autocast_casts": self.autocast_casts(), "graphs": self.graphs(), "graph_breaks": self.graph_breaks(),
            "peak_device_bytes": peak, "hbm_per_device_bytes": hbm, "hbm_source": source,
            "warnings": self.warnings(),
        }

    # ----------------------------------------------------------------------------------------------- writers

    def render_text(self) -> str:
        if self.device != "neuron":  # the CUDA emulator prints its own call summary
            return f"porter run (emulated {self.device}): exit code {self.exit_code}\n"
        data = self.to_dict()
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(data["ops_by_verdict"].items(),
                                                            key=lambda kv: VERDICT_ORDER.index(kv[0])
                                                            if kv[0] in VERDICT_ORDER else 9))
        out = [f"porter run (emulated {self.device}, {data['platform']}): {data['processes']} process(es), "
               f"exit code {self.exit_code}",
               f"ops: {verdicts or 'none'}"]
        for op in data["ops"]:
            if op["verdict"] != "Y":
                where = f"  [{op['sources'][0]}]" if op["sources"] else ""
                out.append(f"  {op['count']:6d}  {op['verdict']:12s} aten::{op['op']}{where}")
        if data["kernel_calls"]:
            out.append("NKI kernels: " + ", ".join(f"{k['kernel']} x{k['count']} ({k['path']})"
                                                  for k in data["kernel_calls"]))
            for kernel, stats in data["kernel_stats"].items():
                figures = ", ".join(f"{k} {v}" for k, v in sorted(stats.items()))
                out.append(f"  {kernel}: {figures}")
        if data["autocast_casts"]:
            out.append("autocast casts: " + ", ".join(f"{c['op']}->{c['dtype']} x{c['count']}"
                                                      for c in data["autocast_casts"]))
        if data["graphs"] or data["graph_breaks"]:
            out.append(f"compiled graphs: {len(data['graphs'])}, graph breaks: {len(data['graph_breaks'])}")
            out += [f"  break at {b['source']}: {b['reason']}" for b in data["graph_breaks"]]
        peak, hbm = data["peak_device_bytes"], data["hbm_per_device_bytes"]
        out.append(f"peak device memory: {_size(peak)} of {_size(hbm)} HBM per NeuronCore")
        out += [f"warning: {w}" for w in data["warnings"]]
        return "\n".join(out) + "\n"

    def render_markdown(self) -> str:
        data = self.to_dict()
        out = [f"# porter run: emulated `{self.device}` ({data['platform']})", "",
               f"Command: `{' '.join(self.command)}`, exit code {self.exit_code}, "
               f"{data['processes']} process(es).", "",
               "| verdict | op calls |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in data["ops_by_verdict"].items()]
        out += ["", "| op | verdict | basis | calls | source |", "|---|---|---|---|---|"]
        out += [f"| `aten::{o['op']}` | {o['verdict']} | {o['basis']} | {o['count']} | "
                f"{o['sources'][0] if o['sources'] else ''} |" for o in data["ops"]]
        if data["kernel_calls"]:
            out += ["", "## NKI kernels", "", "| kernel | path | calls |", "|---|---|---|"]
            out += [f"| {k['kernel']} | {k['path']} | {k['count']} |" for k in data["kernel_calls"]]
        if data["autocast_casts"]:
            out += ["", "## Autocast casts", "", "| op | to | count |", "|---|---|---|"]
            out += [f"| `{c['op']}` | {c['dtype']} | {c['count']} |" for c in data["autocast_casts"]]
        if data["graphs"] or data["graph_breaks"]:
            out += ["", "## torch.compile", "", f"{len(data['graphs'])} graphs, {len(data['graph_breaks'])} breaks"]
            out += [f"- break at `{b['source']}`: {b['reason']}" for b in data["graph_breaks"]]
        out += ["", f"Peak device memory: {_size(data['peak_device_bytes'])} of "
                    f"{_size(data['hbm_per_device_bytes'])} HBM per NeuronCore ({data['hbm_source']})."]
        out += [f"\n**Warning:** {w}" for w in data["warnings"]]
        return "\n".join(out) + "\n"

    def write(self, path: Path) -> None:
        """Write the report; the format follows the suffix (.json, .md, anything else text)."""
        path = Path(path)
        if path.suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2)
        elif path.suffix in (".md", ".markdown"):
            text = self.render_markdown()
        else:
            text = self.render_text()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def _size(nbytes: int) -> str:
    if nbytes >= GIB:
        return f"{nbytes / GIB:.2f} GiB"
    if nbytes >= 1024 ** 2:
        return f"{nbytes / 1024 ** 2:.1f} MiB"
    return f"{nbytes / 1024:.1f} KiB"
