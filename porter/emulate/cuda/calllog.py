"""The intercepted-call log: every CUDA call the program made, where, and what ran instead.

Like the log of Intel Gaudi's GPU migration toolkit: one line per call site
(`file:line: call -> what ran instead (xN)`), in the order the sites were first reached, and a
summary (calls per API) at the end of the run.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter

_local = threading.local()


def _skipped_prefixes() -> tuple[str, ...]:
    import torch

    here = os.path.dirname(os.path.abspath(__file__))
    prefixes = [os.path.dirname(torch.__file__) + os.sep, here + os.sep, os.path.dirname(here) + os.sep + "_"]
    stdlib = os.path.dirname(os.__file__) + os.sep
    return tuple(prefixes), stdlib


_PREFIXES: tuple | None = None


def caller_site(skip_extra: tuple[str, ...] = ()) -> tuple[str, int]:
    """(file, line) of the innermost frame that belongs to the program (not torch, porter or the stdlib)."""
    site = program_caller(require_direct=False)
    return site or ("<unknown>", 0)


def program_caller(require_direct: bool = True) -> tuple[str, int] | None:
    """(file, line) of the program's frame that made the current call.

    With require_direct, None when the call came from inside torch (torch calling its own
    `torch.cuda.is_available()` is not a call of the program).
    """
    global _PREFIXES
    if _PREFIXES is None:
        _PREFIXES = _skipped_prefixes()
    (torch_dir, here, porter_private), stdlib = _PREFIXES
    frame = sys._getframe(1)
    first = True
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(here) or name.startswith(porter_private):
            frame = frame.f_back
            continue
        in_stdlib = name.startswith(stdlib) and "site-packages" not in name or name.startswith("<frozen")
        if name.startswith(torch_dir) or in_stdlib:
            if require_direct and first and not in_stdlib:
                return None  # torch calling itself
            first = False
            frame = frame.f_back
            continue
        return name, frame.f_lineno
    return None


class quiet:
    """Inside it, this thread records nothing (a patched call running other patched calls)."""

    def __enter__(self):
        _local.depth = getattr(_local, "depth", 0) + 1

    def __exit__(self, *exc):
        _local.depth -= 1


def is_quiet() -> bool:
    return getattr(_local, "depth", 0) > 0


class CallLog:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = os.fspath(path) if path else None
        self.sites: dict[tuple[str, int, str, str], int] = {}
        self._lock = threading.Lock()

    def record(self, call: str, instead: str, site: tuple[str, int] | None = None) -> None:
        if is_quiet():
            return
        site = site or program_caller()
        if site is None:
            return
        file, line = site
        key = (file, line, call, instead)
        with self._lock:
            self.sites[key] = self.sites.get(key, 0) + 1

    def lines(self) -> list[str]:
        out = []
        for (file, line, call, instead), n in list(self.sites.items()):
            times = f" (x{n})" if n > 1 else ""
            out.append(f"{_rel(file)}:{line}: {call} -> {instead}{times}")
        return out

    def summary(self) -> str:
        per_call = Counter()
        for (_, _, call, _), n in list(self.sites.items()):
            per_call[call] += n
        total = sum(per_call.values())
        head = f"porter CUDA emulation: {total} intercepted calls at {len(self.sites)} sites, {len(per_call)} APIs"
        body = [f"  {n:6d}  {call}" for call, n in per_call.most_common()]
        return "\n".join([head, *body])

    def text(self) -> str:
        return "\n".join([*self.lines(), "", self.summary(), ""])

    def write(self) -> None:
        """Append this process's log to the file (one write: processes sharing the file do not interleave)."""
        if not self.path:
            return
        block = f"# pid {os.getpid()}\n" + self.text()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(block)


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
