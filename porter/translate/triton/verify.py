"""Verify Triton -> NKI translations on a CPU: the original in Triton's interpreter, the translation in porter's
NKI simulator, on the same random inputs.

This module is static: it translates, writes the NKI file and runs ``verify_worker`` in a child process per
file (torch, triton and the simulator are imported there only). A worker that dies (Triton's interpreter can
crash on an out-of-bounds access) costs only the kernel it was checking; the others are retried in a new worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .translate import FileTranslation, KernelTranslation, nki_path_for, translate_file

VERIFIED = "translated + verified"
FAILING = "translated, failing (not applied)"
UNCHECKED = "translated, not verified (not applied)"
NOT_TRANSLATED = "not translatable"

DTYPES = ("float32", "bfloat16")
TOLERANCE = {"float32": (1e-4, 1e-4), "bfloat16": (3e-2, 3e-2)}
# bf16 results also get 1.6e-2 x max|reference| (about four bf16 ulps of the output's scale): a kernel whose
# intermediates are bf16 rounds them at that scale, on a GPU as here.
BF16_SCALE_ATOL = 1.6e-2
WORKER_TIMEOUT_S = 900


@dataclass
class CaseResult:
    case: str
    dtype: str
    max_abs_error: float
    ok: bool
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class KernelReport:
    name: str
    line: int
    status: str
    reason: str = ""
    mode: str = ""
    config_note: str = ""
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def max_abs_error(self) -> float | None:
        errs = [c.max_abs_error for c in self.cases]
        return max(errs) if errs else None

    def as_dict(self) -> dict[str, Any]:
        return {"kernel": self.name, "line": self.line, "status": self.status, "reason": self.reason,
                "mode": self.mode, "config": self.config_note, "max_abs_error": self.max_abs_error,
                "cases": [c.__dict__ for c in self.cases]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KernelReport:
        return cls(d["kernel"], d["line"], d["status"], d["reason"], d["mode"], d["config"],
                   [CaseResult(**c) for c in d["cases"]])


def short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _run_workers(path: Path, nki_file: Path, names: list[str], timeout: float) -> dict[str, KernelReport]:
    done: dict[str, KernelReport] = {}
    pending = list(names)
    env = dict(os.environ, TRITON_INTERPRET="1")
    while pending:
        cmd = [sys.executable, "-m", "porter.translate.triton.verify_worker", str(path), str(nki_file), *pending]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            out, code, timed_out = proc.stdout, proc.returncode, False
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            code, timed_out = None, True
        for line in out.splitlines():
            if line.startswith("{"):
                r = KernelReport.from_dict(json.loads(line))
                done[r.name] = r
        pending = [n for n in pending if n not in done]
        if not pending:
            break
        victim = pending.pop(0)
        if timed_out:
            why = f"verification timed out after {timeout:.0f} s"
        elif code is not None and code < 0:
            why = (f"Triton's interpreter crashed (signal {-code}) running the original with the synthesised "
                   "inputs, typically an out-of-bounds access the interpreter does not check")
        else:
            why = f"the verification worker exited with status {code}"
        done[victim] = KernelReport(victim, 0, UNCHECKED, why)
    return done


def verify_file(path: Path, write: bool = False, kernels: list[str] | None = None,
                timeout: float = WORKER_TIMEOUT_S) -> tuple[FileTranslation, list[KernelReport]]:
    """Translate ``path`` and verify each translated kernel; with ``write`` the NKI file is written beside it."""
    path = Path(path)
    ft = translate_file(path)
    wanted = [kt for kt in ft.kernels if not kernels or kt.name in kernels]
    names = [kt.name for kt in wanted if kt.translated and kt.launched]
    results: dict[str, KernelReport] = {}
    if ft.source is not None and names:
        with tempfile.TemporaryDirectory(prefix="porter-triton-") as tmp:
            target = nki_path_for(path) if write else Path(tmp) / nki_path_for(path).name
            target.write_text(ft.source, encoding="utf-8")
            results = _run_workers(path, target, names, timeout)
    reports = []
    for kt in wanted:
        if not kt.translated:
            reports.append(_untranslated(kt))
        elif kt.name in results:
            r = results[kt.name]
            r.line, r.mode = kt.line, kt.mode
            r.config_note = r.config_note or kt.config_note
            reports.append(r)
    return ft, reports


def _untranslated(kt: KernelTranslation) -> KernelReport:
    p = kt.problem
    reason = f"{p.construct}: {p.reason} (line {p.line}, {'NRN430'})" if p else "no launched kernel"
    return KernelReport(kt.name, kt.line, NOT_TRANSLATED, reason, kt.mode)
