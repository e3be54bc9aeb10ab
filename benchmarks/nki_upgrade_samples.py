"""Measure `porter nki upgrade` on a checkout of public legacy NKI kernels (e.g. aws-neuron/nki-samples).

    python benchmarks/nki_upgrade_samples.py CHECKOUT OUT [--timeout 300] [--only SUBSTRING]

Upgrades the whole checkout into OUT (the checkout is not touched), then runs, on porter's NKI
simulator (NKI 0.8 semantics), each upgraded file's own checks: pytest files under test/ (with
`--simulation-only` when their conftest defines it) and every kernel file with a `__main__` block
(the tutorials compare with their NumPy goldens there). Prints one Markdown row per file:
markers left, whether the upgraded file imports, and the checks' outcome. Nothing of the checkout
is copied into porter's repository.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PLUGIN = "porter.translate.nki_upgrade._sim_plugin"


def _limit_memory() -> None:
    # Some sample tests simulate very large shapes; a run past 6 GiB fails instead of swapping the machine.
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int) -> tuple[int | None, str, float]:
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        return None, "timeout", time.monotonic() - start
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkout", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    porter = [sys.executable, "-m", "porter"]
    code, text, secs = _run([*porter, "nki", "upgrade", str(args.checkout), "--out", str(args.out), "--force"],
                            Path.cwd(), dict(os.environ), 600)
    print(f"upgrade: exit {code}, {secs:.1f} s: {text.strip().splitlines()[0] if text.strip() else ''}")
    markers: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"(.+?\.py):\d+: NRN7\d\d ", line)
        if m:
            rel = str(Path(m.group(1)).relative_to(args.checkout))
            markers[rel] = markers.get(rel, 0) + 1
    src = [p for p in (args.out / "src",) if p.is_dir()]
    pythonpath = os.pathsep.join([*map(str, src), str(Path(__file__).resolve().parents[1])])
    env = {**os.environ, "PYTHONPATH": pythonpath, "MPLBACKEND": "Agg"}
    rows = []
    files = sorted(p for p in args.out.rglob("*.py") if args.only in str(p.relative_to(args.out)))
    for path in files:
        rel = path.relative_to(args.out)
        text = path.read_text(errors="replace")
        is_test = path.name.startswith("test_") and "def test_" in text
        has_main = "__main__" in text and "nki" in text
        if not (is_test or has_main):
            continue
        needs = [pkg for pkg in ("torch_xla", "torch_neuronx", "jax")
                 if re.search(rf"^\s*(import|from) {pkg}\b", text, re.M)]
        if needs:
            rows.append((str(rel), markers.get(str(rel), 0), f"n/a: needs {needs[0]}", 0.0, ""))
            print(f"| {rel} | {markers.get(str(rel), 0)} | n/a: needs {needs[0]} (not on this machine) | | |",
                  flush=True)
            continue
        if is_test:
            conftest = path.parent / "conftest.py"
            extra = ["--simulation-only"] if conftest.exists() and "simulation-only" in conftest.read_text() else []
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", PLUGIN, *extra, str(path)]
        else:
            cmd = [sys.executable, "-c",
                   f"import {PLUGIN}, runpy, sys; sys.path.insert(0, {str(path.parent)!r}); "
                   f"runpy.run_path({str(path)!r}, run_name='__main__')"]
        code, out, secs = _run(cmd, path.parent, env, args.timeout)
        calls_itself = re.search(r"^test_\w+\(", text, re.M) is not None
        if is_test and calls_itself and code not in (0, None) and "fixture '" in out and "' not found" in out:
            # A script-style test file (it calls its test function itself): its check is running it.
            is_test = False
            cmd = [sys.executable, "-c", f"import {PLUGIN}, runpy, sys; sys.path.insert(0, {str(path.parent)!r}); "
                   f"runpy.run_path({str(path)!r}, run_name='__main__')"]
            code, out, secs = _run(cmd, path.parent, env, args.timeout)
        tail = out.strip().splitlines()[-1][:110] if out.strip() else ""
        if is_test:
            m = re.search(r"(\d+) passed", tail)
            f = re.search(r"(\d+) failed", tail)
            e = re.search(r"(\d+) errors?", tail)
            counts = [(x.group(1) if x else "0") for x in (m, f, e)]
            outcome = f"{counts[0]} passed, {counts[1]} failed, {counts[2]} errors"
        else:
            outcome = "matches" if code == 0 else ("timeout" if code is None else "fails")
        rows.append((str(rel), markers.get(str(rel), 0), outcome, secs, tail if code != 0 else ""))
        print(f"| {rel} | {markers.get(str(rel), 0)} | {outcome} | {secs:.0f} s | {tail if code != 0 else ''} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
