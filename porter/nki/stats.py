"""Per-run counters: instructions per engine, DMA bytes, peak on-chip memory.

Only counts; the simulator has no timing model and reports no latencies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RunStats:
    instructions: Counter = field(default_factory=Counter)  # engine name -> count
    ops: Counter = field(default_factory=Counter)  # API name -> count
    hbm_to_sbuf_bytes: int = 0
    sbuf_to_hbm_bytes: int = 0
    hbm_to_hbm_bytes: int = 0
    sbuf_to_sbuf_bytes: int = 0
    peak_sbuf_bytes: int = 0  # sum over live SBUF tiles of partitions * bytes per partition
    peak_psum_bytes: int = 0
    peak_sbuf_partition_bytes: int = 0  # the capacity-relevant figure (per partition)
    peak_psum_banks: int = 0
    instances: int = 0

    def record(self, api: str, engine: str) -> None:
        self.instructions[engine] += 1
        self.ops[api] += 1

    @property
    def total_instructions(self) -> int:
        return sum(self.instructions.values())

    def as_dict(self) -> dict:
        return {
            "instructions": dict(self.instructions),
            "ops": dict(self.ops),
            "hbm_to_sbuf_bytes": self.hbm_to_sbuf_bytes,
            "sbuf_to_hbm_bytes": self.sbuf_to_hbm_bytes,
            "hbm_to_hbm_bytes": self.hbm_to_hbm_bytes,
            "sbuf_to_sbuf_bytes": self.sbuf_to_sbuf_bytes,
            "peak_sbuf_bytes": self.peak_sbuf_bytes,
            "peak_psum_bytes": self.peak_psum_bytes,
            "peak_sbuf_partition_bytes": self.peak_sbuf_partition_bytes,
            "peak_psum_banks": self.peak_psum_banks,
            "instances": self.instances,
        }
