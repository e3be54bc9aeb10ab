"""Allocations and on-chip capacity tracking by liveness.

Lifetime rule (the compiler's liveness analysis, replayed at run time): an SBUF/PSUM
allocation is live from its first access by an instruction (a read or a write of any
view of it; `nl.zeros` / `nl.full` write at allocation) until its last access.  This is
the documented NKI allocator (`nki.compiler.Allocation`: an address is assigned at a
tile's first write and released after its last read), so a list of tiles declared up
front costs nothing until each tile is used.  Time is counted in lifetime starts: the
live set only grows when a tile starts, so the peak is the largest sum, over start
points, of the tiles whose lifetime covers that point.  A later access of a tile
extends its lifetime over every start since its previous access, and that is when an
overflow becomes known: the error is raised at the instruction that proves two tiles
were needed at the same time, and names the tiles live at the worst point and where
they were allocated.  A tile that alone exceeds the capacity fails at its allocation.

Python references play no part: a tile that is still bound to a variable (or held
in a list) but never used again is dead, as on hardware; a tile declared once per
loop iteration occupies one slot at a time.
"""

from __future__ import annotations

import math
import os
import sys
import weakref
from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.errors import NkiOutOfMemoryError, NkiValidationError
from porter.nki.platform import KIB, Target, psum_banks_usable
from porter.nki.stats import RunStats

ONCHIP = ("sbuf", "psum")
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


class Allocation:
    """One buffer: a contiguous NumPy array plus NKI metadata."""

    __slots__ = ("kind", "dtype", "shape", "data", "flat", "acc", "name", "dirty", "span", "__weakref__")

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
        self.span: Span | None = None  # on-chip only: the allocation's lifetime (shared by dtype aliases)


class Span:
    """Lifetime of one on-chip allocation, in lifetime-start indices: [start, end] (-1: not started)."""

    __slots__ = (
        "tracker",
        "kind",
        "pbytes",
        "banks",
        "total",
        "start",
        "end",
        "shape",
        "dtype",
        "name",
        "site",
        "dead",
    )

    def __init__(self, tracker: MemoryTracker, kind: str, shape: tuple, dtype: str, name: str, site: Any) -> None:
        self.tracker = tracker
        self.kind = kind
        self.shape = shape
        self.dtype = dtype
        self.name = name
        self.site = site
        self.pbytes = partition_bytes(shape, dtype)
        self.total = self.pbytes * shape[0]
        # PSUM tiles start on a bank boundary and occupy whole banks.
        self.banks = max(1, -(-self.pbytes // tracker.target.psum_bank_bytes)) if kind == "psum" else 0
        self.start = self.end = -1  # not started: declared, never accessed yet
        self.dead = False

    def touch(self) -> None:
        """An instruction accessed the allocation: it is live up to now (from now, the first time)."""
        t = self.tracker
        if self.start < 0:
            if not t.closed:
                t._start(self)
            return
        if not t.closed:
            t.recent.append(self)
        if self.end < t.clock and not t.closed:
            lo = self.end + 1
            self.end = t.clock
            t._add(self, lo, t.clock)

    def describe(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        size = f"{self.banks} bank(s)" if self.kind == "psum" else f"{self.pbytes} B/partition"
        return f"{self.shape} {self.dtype}{label} allocated at {_fmt_site(self.site)} [{size}]"


_ACTIVE: MemoryTracker | None = None  # the tracker of the running instance (instances run one at a time)


def note_access(span: Span | None, write: bool) -> None:
    """Any tensor access (HBM too) marks instruction boundaries; an on-chip one extends its tile's life."""
    tracker = span.tracker if span is not None else _ACTIVE
    if tracker is not None and not tracker.closed:
        tracker.accessed(write)
    if span is not None:
        span.touch()


def partition_bytes(shape: tuple[int, ...], dtype: str) -> int:
    free = math.prod(shape[1:]) if len(shape) > 1 else 1
    return free * dtypes.ITEMSIZE[dtype]


def _kernel_site() -> tuple[str, int] | None:
    """(file, line) of the innermost caller outside the simulator package."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else None


def _fmt_site(site: tuple[str, int] | None) -> str:
    return f"{os.path.basename(site[0])}:{site[1]}" if site else "?"


def _mark_dead(span: Span) -> None:
    span.dead = True


class _Timeline:
    """Per allocation index: the capacity metric (bytes per partition or banks) and total bytes.

    Plain lists: most updates cover one or a few allocation points, where list arithmetic is far
    cheaper than NumPy slicing; the total work is the sum of all lifetimes, in allocations.
    """

    def __init__(self) -> None:
        self.metric: list[int] = []
        self.total: list[int] = []

    def ensure(self, n: int) -> None:
        while len(self.metric) < n:
            self.metric.append(0)
            self.total.append(0)


class MemoryTracker:
    """On-chip lifetimes of one kernel instance, checked against the target's capacity."""

    def __init__(self, target: Target, stats: RunStats) -> None:
        self.target = target
        self.stats = stats
        self.clock = -1  # index of the most recent lifetime start (a tile's first access)
        self.usable_banks = psum_banks_usable()
        self._lines = {"sbuf": _Timeline(), "psum": _Timeline()}
        self._spans: list[Span] = []  # kept while they can still appear in an overflow report
        self._prune_at = 1024
        self.closed = False
        # Tiles the current instruction accessed. An instruction reads its operands, is recorded,
        # then writes (or reads, writes, is recorded): a read after a write, or a record after a
        # record, begins the next instruction.
        self.recent: list[Span] = []
        self.writing = False
        global _ACTIVE
        _ACTIVE = self

    def instruction_done(self) -> None:
        if self.writing:
            self.recent.clear()  # an instruction without reads (memset, iota, ...)
        self.writing = True

    def accessed(self, write: bool) -> None:
        if write:
            return
        if self.writing:
            self.recent.clear()
            self.writing = False

    def _check_shape(self, kind: str, shape: tuple[int, ...], dtype: str, name: str) -> None:
        label = f"{name!r} " if name else ""
        if len(shape) < 1:
            raise NkiValidationError(f"{kind} tensor {label}needs at least one dimension (the partition dim)")
        if shape[0] > self.target.partitions:
            raise NkiValidationError(
                f"{kind} tensor {label}{shape}: partition dimension {shape[0]} exceeds maximum {self.target.partitions}"
            )
        pbytes = partition_bytes(shape, dtype)
        t = self.target
        if kind == "psum" and pbytes > t.psum_partition_bytes:
            raise NkiOutOfMemoryError(
                f"PSUM over capacity: {label}{shape} {dtype} needs {pbytes} bytes per partition, "
                f"PSUM has {t.psum_partition_bytes} ({t.psum_banks} banks x {t.psum_bank_bytes} bytes)"
            )

    def allocate(self, kind: str, shape: tuple[int, ...], dtype: str, name: str = "", fill: Any = None) -> Allocation:
        if kind in ONCHIP:
            self._check_shape(kind, shape, dtype, name)
        store = dtypes.storage_type(dtype)
        data = np.empty(shape, dtype=store)
        if fill is None:
            data[...] = dtypes.sentinel(dtype)
        else:
            data[...] = dtypes.cast(np.asarray(fill), dtype)
        alloc = Allocation(kind, dtype, shape, data, name)
        if kind in ONCHIP and not self.closed:
            span = Span(self, kind, shape, dtype, name, _kernel_site())
            alloc.span = span
            weakref.finalize(alloc, _mark_dead, span)
            alone = span.pbytes if kind == "sbuf" else span.banks
            if fill is not None or alone > self._limit(kind):
                self._start(span)  # filled at allocation (a write), or too large on its own
        return alloc

    def _start(self, span: Span) -> None:
        """The tile's lifetime begins now (its first access)."""
        self.clock += 1
        for line in self._lines.values():
            line.ensure(self.clock + 1)
        span.start = span.end = self.clock
        # The operands this instruction read are live while it writes its new tile.
        for other in self.recent:
            if other.end < self.clock:
                lo, other.end = other.end + 1, self.clock
                self._add(other, lo, self.clock)
        self.recent.append(span)
        self._spans.append(span)
        if len(self._spans) >= self._prune_at:
            self._prune()
        self._add(span, self.clock, self.clock)

    def _limit(self, kind: str) -> int:
        return self.target.sbuf_partition_bytes if kind == "sbuf" else self.usable_banks

    def _add(self, span: Span, lo: int, hi: int) -> None:
        """Count `span` as live at allocation indices lo..hi and check capacity there."""
        line = self._lines[span.kind]
        metric, total = line.metric, line.total
        amount = span.pbytes if span.kind == "sbuf" else span.banks
        worst, worst_at, most = -1, lo, 0
        for i in range(lo, hi + 1):
            m = metric[i] + amount
            metric[i] = m
            t = total[i] + span.total
            total[i] = t
            if m > worst:
                worst, worst_at = m, i
            if t > most:
                most = t
        s = self.stats
        if span.kind == "sbuf":
            s.peak_sbuf_partition_bytes = max(s.peak_sbuf_partition_bytes, worst)
            s.peak_sbuf_bytes = max(s.peak_sbuf_bytes, most)
        else:
            s.peak_psum_banks = max(s.peak_psum_banks, worst)
            s.peak_psum_bytes = max(s.peak_psum_bytes, most)
        if worst > self._limit(span.kind):
            raise self._overflow(span.kind, worst_at, worst)

    def _overflow(self, kind: str, at: int, used: int) -> NkiOutOfMemoryError:
        live = [s for s in self._spans if s.kind == kind and s.start <= at <= s.end]
        live.sort(key=lambda s: s.start)
        where = next((s for s in live if s.start == at), None)
        when = (f"when {where.shape} {where.dtype} allocated at {_fmt_site(where.site)} was first used"
                if where else "")
        tiles = "; ".join(s.describe() for s in live)
        t = self.target
        if kind == "sbuf":
            head = (
                f"SBUF over capacity: {used} bytes per partition are live at once {when}, "
                f"{t.sbuf_partition_bytes} available ({t.name}: {t.sbuf_partition_bytes // KIB} KiB per partition)"
            )
        else:
            head = (
                f"PSUM bank overflow: {used} banks of {t.psum_bank_bytes} bytes are live at once {when}, "
                f"{self.usable_banks} usable"
            )
        return NkiOutOfMemoryError(f"{head}. A tile is live from its first use to its last use; live then: {tiles}")

    def _prune(self) -> None:
        """Drop dead spans that end before every live one: no future check can reach them."""
        horizon = min((s.end for s in self._spans if not s.dead), default=self.clock)
        self._spans = [s for s in self._spans if not s.dead or s.end >= horizon]
        self._prune_at = max(1024, 2 * len(self._spans))

    def close(self) -> None:
        self._spans.clear()
        self.closed = True
