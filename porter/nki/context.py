"""Execution context: which launch and which SPMD instance is running now.

A Launch spans one kernel call (all SPMD instances, run one after the other); it
owns the statistics and the shared-HBM registry.  An Instance owns its on-chip
memory, engine accumulator registers and program ids.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from porter.nki.memory import Allocation, MemoryTracker
from porter.nki.platform import Target, current_target
from porter.nki.stats import RunStats


class Launch:
    def __init__(self, grid: tuple[int, ...] = ()) -> None:
        self.target: Target = current_target()
        self.stats = RunStats()
        self.grid = grid
        # i-th shared_hbm ndarray of every instance maps to the same allocation, so SPMD
        # instances writing disjoint slices of an output see one tensor (as on hardware).
        self.shared: list[Allocation] = []
        seed = int(os.environ.get("PORTER_NKI_SEED", "0"))
        self.rng = np.random.default_rng(seed)


class Instance:
    def __init__(self, launch: Launch, pid: tuple[int, ...]) -> None:
        self.launch = launch
        self.pid = pid
        self.memory = MemoryTracker(launch.target, launch.stats)
        self.shared_index = 0
        parts = launch.target.partitions
        # ScalarE reduce registers (activation) and VectorE accumulators; one fp32 per lane.
        self.act_regs = np.zeros(parts, dtype=np.float32)
        self.vec_regs = np.zeros(parts, dtype=np.float32)

    @property
    def stats(self) -> RunStats:
        return self.launch.stats

    @property
    def target(self) -> Target:
        return self.launch.target


_local = threading.local()


def current() -> Instance:
    """The running instance; outside any kernel a lazily created ad-hoc one (REPL use)."""
    inst = getattr(_local, "instance", None)
    if inst is not None and inst is getattr(_local, "adhoc", None) and inst.target != current_target():
        inst = None  # the ad-hoc context follows NEURON_PLATFORM_TARGET_OVERRIDE changes
    if inst is None:
        inst = Instance(Launch(), ())
        _local.adhoc = inst
        _local.instance = inst
    return inst


def enter(inst: Instance | None) -> Any:
    prev = getattr(_local, "instance", None)
    _local.instance = inst
    return prev


def running_in_kernel() -> bool:
    inst = getattr(_local, "instance", None)
    return inst is not None and inst is not getattr(_local, "adhoc", None)
