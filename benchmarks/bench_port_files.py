"""Port time per file size: the biggest files of a tree (the installed torch package by default)
ported one at a time in this process, CPU seconds per MiB for each.

    python benchmarks/bench_port_files.py [TREE] [--count N] [--repeat R]

The goal is a port linear in file size: no file slower than 2 s per MiB. CPU time (not wall
time) is measured, so other work on the machine counts less; cyclic GC is paused during each file's
port, as `porter port`'s workers do. Each file is ported R times (3 by default) and the best and the
median are printed: a shared host only ever adds time, so the best is the figure of the code and the
spread is the host's (this one's speed moves 20-30% within minutes). What a process pays once (the
catalogue's patterns compiled, the rule index's first answers) is paid by a small untimed port
first, as each of `porter port`'s workers pays it once, not per file; and each port's result is
freed before the next is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from porter.config import ConfigResolver, Overrides
from porter.rewrite.narrow import port_source_narrow
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex, gc_paused
from porter.source.runner import MAX_FILE_BYTES
from porter.source.selection import ignored_rules, select_rules

# A little CUDA code of the common kinds, ported once before the timing.
WARM_UP = """import torch
import torch.distributed as dist


def step(model, x, scaler):
    x = x.cuda()
    with torch.cuda.amp.autocast():
        y = model(x.to("cuda:0"))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    dist.init_process_group("nccl")
    return y.half()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", nargs="?", type=Path, default=None)
    parser.add_argument("--count", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3, help="ports of each file (best and median printed)")
    args = parser.parse_args()
    if args.tree is None:
        import importlib.util

        args.tree = Path(importlib.util.find_spec("torch").origin).parent
    settings = ConfigResolver(Overrides()).for_path(args.tree)
    catalogue = load_catalogue(settings.rule_paths)
    rules = [r for r in select_rules(catalogue, settings) if r.matchers]
    index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings), target=settings.target)
    files = sorted((p for p in args.tree.rglob("*.py") if p.is_file() and 0 < p.stat().st_size <= MAX_FILE_BYTES),
                   key=lambda p: p.stat().st_size, reverse=True)[: args.count]
    with gc_paused():
        port_source_narrow(WARM_UP, "warm_up.py", index, catalogue, settings.target)
    worst = worst_median = 0.0
    print(f"{'MiB':>6} {'best s':>7} {'s/MiB':>6} {'median':>6}  file")
    for path in files:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        mib = len(text.encode("utf-8", "surrogateescape")) / 2**20
        times = []
        for _ in range(max(1, args.repeat)):
            start = time.process_time()
            with gc_paused():
                port = port_source_narrow(text, str(path), index, catalogue, settings.target)
            times.append(time.process_time() - start)
            state = "error" if port.error else ("changed" if port.changed else "unchanged")
            del port  # freed here, not while the next port is timed
        best, median = min(times), statistics.median(times)
        worst, worst_median = max(worst, best / mib), max(worst_median, median / mib)
        print(f"{mib:6.2f} {best:7.2f} {best / mib:6.2f} {median / mib:6.2f}  {path.relative_to(args.tree)} ({state})")
    print(f"slowest: {worst:.2f} s/MiB best of {max(1, args.repeat)}, {worst_median:.2f} median (goal: at most 2)")
    sys.exit(0)


if __name__ == "__main__":
    main()
