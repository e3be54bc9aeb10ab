"""Lint a large real tree (the installed torch package by default), cold and warm.

    python benchmarks/bench_lint.py [TREE] [--jobs N]

Cold: an empty cache directory, every file read and every candidate parsed. Warm: the same
command again, nothing changed, so every file is a cache hit. Each run is the real CLI in a fresh
process, timed from the outside, so interpreter start-up and imports are included.

ruff (the dev extra) runs on the same tree in the same session, cold (`--no-cache`) and warm, with
the rule set the project brief quotes (E, F, B, UP), so the ratio is measured under the same load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*.py") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def run(tree: Path, cache: Path, jobs: int | None) -> tuple[float, int, str]:
    cmd = [sys.executable, "-m", "porter", "lint", str(tree), "--exit-zero", "--statistics",
           "--cache-dir", str(cache)]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CI": "1"})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"porter failed ({proc.returncode}):\n{proc.stderr}")
    total = sum(int(line.split()[0]) for line in proc.stdout.splitlines() if line.strip())
    return elapsed, total, proc.stdout


def run_ruff(tree: Path, cache: Path | None) -> float | None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        return None
    cmd = [str(ruff), "check", str(tree), "--select", "E,F,B,UP", "--exit-zero", "--quiet", "--isolated"]
    cmd += ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    import torch  # noqa: F401 - only to locate the default tree

    parser = argparse.ArgumentParser()
    parser.add_argument("tree", nargs="?", type=Path, default=Path(sys.modules["torch"].__file__).parent)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    n_files, n_bytes = tree_size(args.tree)
    print(f"tree: {args.tree} ({n_files} .py files, {n_bytes / 1e6:.1f} MB); cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as ruff_cache:
        ruff_cold = run_ruff(args.tree, None)
        cold, findings, stats = run(args.tree, Path(cache), args.jobs)
        warm, findings_warm, _ = run(args.tree, Path(cache), args.jobs)
        run_ruff(args.tree, Path(ruff_cache))
        ruff_warm = run_ruff(args.tree, Path(ruff_cache))
    assert findings == findings_warm, "warm run must report exactly what the cold run did"
    print(f"findings: {findings}")
    print(f"cold: {cold:6.2f} s  {n_files / cold:7.0f} files/s  {n_bytes / 1e6 / cold:6.1f} MB/s")
    print(f"warm: {warm:6.2f} s  {n_files / warm:7.0f} files/s  {n_bytes / 1e6 / warm:6.1f} MB/s")
    if ruff_cold is not None:
        print(f"ruff check --select E,F,B,UP: cold {ruff_cold:6.2f} s, warm {ruff_warm:6.2f} s; "
              f"porter/ruff cold {cold / ruff_cold:.1f}x, warm {warm / ruff_warm:.1f}x")
    else:
        print("ruff not installed next to this Python (pip install -e '.[dev]'): no comparison")
    print("top rules:")
    print("".join(stats.splitlines(keepends=True)[:10]), end="")


if __name__ == "__main__":
    main()
