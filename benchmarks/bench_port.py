"""Port a large real tree (the installed torch package by default) into a temporary directory.

    python benchmarks/bench_port.py [TREE] [--target neuron|portable|xla] [--jobs N]

The real CLI in a fresh process, timed from the outside (start-up and imports included). The
tree is ported twice into fresh directories: the second run shows what the lint cache saves.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*.py") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def port(tree: Path, out: Path, cache: Path, target: str, jobs: int | None) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "porter", "port", str(tree), "--out", str(out), "--target", target]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    env = {**os.environ, "CI": "1", "PORTER_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # 1 means the port finished but some files could not be ported (the torch tree holds files
    # for newer Pythons): they are counted, not fatal. 2 is a usage or internal failure.
    if proc.returncode not in (0, 1):
        raise SystemExit(f"porter port failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    problems = [line for line in proc.stderr.splitlines() if line.startswith(str(tree))]
    internal = [line for line in problems if "internal error" in line]
    if internal:
        raise SystemExit("porter port hit internal errors:\n" + "\n".join(internal))
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
    return elapsed, cpu, f"{summary}\nfiles not ported (reported): {len(problems)}"


def main() -> None:
    import torch  # noqa: F401 - only to locate the default tree

    parser = argparse.ArgumentParser()
    parser.add_argument("tree", nargs="?", type=Path, default=Path(sys.modules["torch"].__file__).parent)
    parser.add_argument("--target", default="neuron")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    n_files, n_bytes = tree_size(args.tree)
    print(f"tree: {args.tree} ({n_files} .py files, {n_bytes / 1e6:.1f} MB); cores: {os.cpu_count()}; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        first, first_cpu, summary = port(args.tree, Path(tmp) / "out1", cache, args.target, args.jobs)
        second, second_cpu, _ = port(args.tree, Path(tmp) / "out2", cache, args.target, args.jobs)
    print(summary)
    # CPU seconds (all worker processes) say what the port costs whatever else the machine runs;
    # wall time on an idle machine is about CPU / cores.
    print(f"first port:  {first:6.2f} s wall, {first_cpu:6.1f} s CPU  {n_files / first:6.0f} files/s")
    print(f"second port: {second:6.2f} s wall, {second_cpu:6.1f} s CPU  (same tree, warm cache)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
