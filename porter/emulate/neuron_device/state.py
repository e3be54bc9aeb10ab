"""What one emulated process records: ops by verdict with source lines, memory, kernels, casts, graphs.

One `RunState` per process while emulation is active; the device, the autocast policy, the compile
backend and the kernel hook all write into it, and the run report is made from it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_PORTER_DIR = str(Path(__file__).resolve().parents[2])
_SKIP_PREFIXES: tuple[str, ...] = ()
SOURCES_PER_OP = 5  # source lines kept per op (counts are kept for every call)
_STACK_SAMPLES = 50  # calls per op whose stack is walked for a source line; later ones are only counted


def _skip_prefixes() -> tuple[str, ...]:
    global _SKIP_PREFIXES
    if not _SKIP_PREFIXES:
        import torch

        _SKIP_PREFIXES = (str(Path(torch.__file__).resolve().parent), _PORTER_DIR,
                          str(Path(threading.__file__).resolve().parent))
    return _SKIP_PREFIXES


def user_source() -> str:
    """The innermost frame of the current stack that is the user's code (not torch, porter or the stdlib)."""
    skip = _skip_prefixes()
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<") and not os.path.realpath(filename).startswith(skip):
            return f"{filename}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return ""


@dataclass
class OpRecord:
    op: str
    verdict: str
    basis: str = ""
    count: int = 0
    sources: Counter = field(default_factory=Counter)


@dataclass
class RunState:
    platform: str = "trn2"
    cores: int = 1
    strict: bool = False
    ops: dict[str, OpRecord] = field(default_factory=dict)
    kernel_calls: Counter = field(default_factory=Counter)  # (kernel, path) -> n
    kernel_stats: dict[str, dict] = field(default_factory=dict)  # kernel -> summed simulator figures
    autocast_casts: Counter = field(default_factory=Counter)  # (op, "bfloat16"/"float32") -> n
    graphs: list[dict] = field(default_factory=list)  # compiled graphs: {"id", "ops", "source"}
    graph_breaks: list[dict] = field(default_factory=list)
    compile_warnings: list[str] = field(default_factory=list)
    current_bytes: int = 0
    peak_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_op(self, op: str, verdict: str, basis: str, want_source: bool) -> None:
        record = self.ops.get(op)
        if record is None:
            record = self.ops[op] = OpRecord(op, verdict, basis)
        record.count += 1
        if want_source and record.count <= _STACK_SAMPLES:
            source = user_source()
            if source:
                record.sources[source] += 1

    def allocate(self, nbytes: int) -> None:
        with self.lock:
            self.current_bytes += nbytes
            if self.current_bytes > self.peak_bytes:
                self.peak_bytes = self.current_bytes

    def release(self, nbytes: int) -> None:
        with self.lock:
            self.current_bytes -= nbytes

    def to_dict(self) -> dict:
        """The JSON-able record of one process (what porter run merges across processes)."""
        from porter.emulate.platforms import platform

        chosen = platform(self.platform)
        return {
            "pid": os.getpid(),
            "argv": list(sys.argv),
            "platform": self.platform,
            "cores": self.cores,
            "strict": self.strict,
            "hbm_per_device": chosen.hbm_per_device,
            "hbm_source": chosen.source,
            "ops": [{"op": r.op, "verdict": r.verdict, "basis": r.basis, "count": r.count,
                     "sources": [s for s, _ in r.sources.most_common(SOURCES_PER_OP)]}
                    for r in sorted(self.ops.values(), key=lambda r: (-r.count, r.op))],
            "kernel_calls": [{"kernel": k, "path": p, "count": n} for (k, p), n in sorted(self.kernel_calls.items())],
            "kernel_stats": self.kernel_stats,
            "autocast_casts": [{"op": op, "dtype": d, "count": n}
                               for (op, d), n in sorted(self.autocast_casts.items())],
            "graphs": self.graphs,
            "graph_breaks": self.graph_breaks,
            "compile_warnings": self.compile_warnings,
            "peak_bytes": self.peak_bytes,
        }

    def by_verdict(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for record in self.ops.values():
            counts[record.verdict] += record.count
        return dict(counts)

