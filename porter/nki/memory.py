"""Allocations and on-chip capacity tracking.

Lifetime rule (deterministic under CPython): an SBUF/PSUM allocation is live while
any NkiTensor view of it is referenced.  CPython frees an object as soon as its last
reference goes, so rebinding a loop variable to a new tile releases the old one at
that point.  Everything still live is released when the kernel instance returns.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.errors import NkiOutOfMemoryError, NkiValidationError
from porter.nki.platform import KIB, Target, psum_banks_usable
from porter.nki.stats import RunStats

ONCHIP = ("sbuf", "psum")


class Allocation:
    """One buffer: a contiguous NumPy array plus NKI metadata."""

    __slots__ = ("kind", "dtype", "shape", "data", "flat", "acc", "name", "dirty", "__weakref__")

    def __init__(self, kind: str, dtype: str, shape: tuple[int, ...], data: np.ndarray, name: str = "") -> None:
        self.kind = kind  # 'sbuf' | 'psum' | 'hbm'
        self.dtype = dtype
        self.shape = shape
        if not data.flags.c_contiguous:
            raise ValueError("Allocation storage must be C-contiguous")  # views index the flat storage
        self.data = data
        self.flat = data.reshape(-1)
        # PSUM only: elements inside an open matmul accumulation group (see isa.nc_matmul).
        self.acc = np.zeros(self.flat.shape, dtype=bool) if kind == "psum" else None
        self.name = name
        self.dirty = False


def partition_bytes(shape: tuple[int, ...], dtype: str) -> int:
    free = math.prod(shape[1:]) if len(shape) > 1 else 1
    return free * dtypes.ITEMSIZE[dtype]


class MemoryTracker:
    """Live SBUF/PSUM allocations of one kernel instance, checked against the target."""

    def __init__(self, target: Target, stats: RunStats) -> None:
        self.target = target
        self.stats = stats
        self._live: dict[int, tuple[str, int, int, int]] = {}  # id -> (kind, partition bytes, total bytes, banks)
        self._next = 0
        self.closed = False

    def live_partition_bytes(self, kind: str) -> int:
        return sum(v[1] for v in self._live.values() if v[0] == kind)

    def live_banks(self) -> int:
        return sum(v[3] for v in self._live.values() if v[0] == "psum")

    def _check(self, kind: str, shape: tuple[int, ...], dtype: str, name: str) -> tuple[int, int]:
        label = f"{name!r} " if name else ""
        if len(shape) < 1:
            raise NkiValidationError(f"{kind} tensor {label}needs at least one dimension (the partition dim)")
        if shape[0] > self.target.partitions:
            raise NkiValidationError(
                f"{kind} tensor {label}{shape}: partition dimension {shape[0]} exceeds maximum {self.target.partitions}"
            )
        pbytes = partition_bytes(shape, dtype)
        t = self.target
        if kind == "sbuf":
            used = self.live_partition_bytes("sbuf")
            if used + pbytes > t.sbuf_partition_bytes:
                raise NkiOutOfMemoryError(
                    f"SBUF over capacity: {label}{shape} {dtype} needs {pbytes} bytes per partition, "
                    f"{used} of {t.sbuf_partition_bytes} bytes per partition already live "
                    f"({t.name}: {t.sbuf_partition_bytes // KIB} KiB per partition)"
                )
            return pbytes, 0
        if pbytes > t.psum_partition_bytes:
            raise NkiOutOfMemoryError(
                f"PSUM over capacity: {label}{shape} {dtype} needs {pbytes} bytes per partition, "
                f"PSUM has {t.psum_partition_bytes} ({t.psum_banks} banks x {t.psum_bank_bytes} bytes)"
            )
        banks = max(1, -(-pbytes // t.psum_bank_bytes))  # allocations start on a bank boundary
        used = self.live_banks()
        usable = psum_banks_usable()
        if used + banks > usable:
            raise NkiOutOfMemoryError(
                f"PSUM bank overflow: {label}{shape} {dtype} needs {banks} bank(s) of {t.psum_bank_bytes} bytes, "
                f"{used} of {usable} banks already live (free PSUM tiles before allocating more)"
            )
        return pbytes, banks

    def allocate(self, kind: str, shape: tuple[int, ...], dtype: str, name: str = "", fill: Any = None) -> Allocation:
        if kind in ONCHIP:
            pbytes, banks = self._check(kind, shape, dtype, name)
        else:
            pbytes, banks = 0, 0
        store = dtypes.storage_type(dtype)
        data = np.empty(shape, dtype=store)
        if fill is None:
            data[...] = dtypes.sentinel(dtype)
        else:
            data[...] = dtypes.cast(np.asarray(fill), dtype)
        alloc = Allocation(kind, dtype, shape, data, name)
        if kind in ONCHIP:
            key = self._next
            self._next += 1
            self._live[key] = (kind, pbytes, pbytes * shape[0], banks)
            weakref.finalize(alloc, self._release, key)
            self._update_peaks()
        return alloc

    def _release(self, key: int) -> None:
        self._live.pop(key, None)

    def _update_peaks(self) -> None:
        s = self.stats
        s.peak_sbuf_partition_bytes = max(s.peak_sbuf_partition_bytes, self.live_partition_bytes("sbuf"))
        s.peak_sbuf_bytes = max(s.peak_sbuf_bytes, sum(v[2] for v in self._live.values() if v[0] == "sbuf"))
        s.peak_psum_bytes = max(s.peak_psum_bytes, sum(v[2] for v in self._live.values() if v[0] == "psum"))
        s.peak_psum_banks = max(s.peak_psum_banks, self.live_banks())

    def close(self) -> None:
        self._live.clear()
        self.closed = True
