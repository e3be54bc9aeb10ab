"""Simulated NKI flash-attention forward vs the PyTorch reference on CPU.

    python benchmarks/bench_attention.py [--batch 1] [--heads 8] [--seq 2048] [--head-dim 128]
                                         [--dtype bfloat16] [--causal] [--repeat 1]

Prints the machine, the simulator's wall time for the whole kernel, the reference's wall time, their ratio, the
maximum error against the reference, and the simulator's instruction counts for the run. The simulator executes
the kernel op by op with NumPy and has no timing model, so its time says how long simulation takes on this
machine, not how fast the kernel runs on a NeuronCore.
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def machine_info() -> str:
    import numpy as np
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}; {os.cpu_count()} cores; {platform.system()} {platform.release()}; python "
            f"{platform.python_version()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
            f"numpy {np.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=None, help="default: --heads (no grouping)")
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="bfloat16")
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each; the best is reported")
    args = parser.parse_args(argv)

    import torch
    from porter.kernels import _runtime, registry
    from porter.kernels.attention import SPEC, attention_reference

    _runtime.ensure_nki(simulated=True)
    dtype = getattr(torch, args.dtype)
    kv_heads = args.kv_heads or args.heads
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(args.batch, args.heads, args.seq, args.head_dim, generator=gen).to(dtype)
    k = torch.randn(args.batch, kv_heads, args.seq, args.head_dim, generator=gen).to(dtype)
    v = torch.randn(args.batch, kv_heads, args.seq, args.head_dim, generator=gen).to(dtype)
    params = {"causal": args.causal, "attention_mask": None, "scale": None}

    print(f"machine: {machine_info()}")
    print(f"attention forward: batch {args.batch}, heads {args.heads} (kv {kv_heads}), seq {args.seq}, "
          f"head dim {args.head_dim}, {args.dtype}, causal={args.causal}")

    ref_best = sim_best = float("inf")
    expected = actual = None
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        with torch.no_grad():
            expected = attention_reference(q, k, v, **params)
        t1 = time.perf_counter()
        actual = _runtime.run_simulated(SPEC.name, SPEC.launch, (q, k, v), params)
        t2 = time.perf_counter()
        ref_best, sim_best = min(ref_best, t1 - t0), min(sim_best, t2 - t1)

    rtol, atol = SPEC.tolerance(args.dtype)
    max_abs, max_rel, ok = registry.compare(actual, expected, rtol, atol)
    print(f"pytorch reference (CPU): {ref_best:10.4f} s")
    print(f"NKI kernel, simulated:   {sim_best:10.4f} s")
    print(f"ratio simulated / reference: {sim_best / ref_best:.1f}x")
    print(f"max abs error {max_abs:.3g}, max rel error {max_rel:.3g} ({'within' if ok else 'OUTSIDE'} "
          f"rtol={rtol:g} atol={atol:g})")
    stats = _runtime.last_run_stats(SPEC.name)
    if stats is not None:
        data = stats.as_dict() if hasattr(stats, "as_dict") else dict(stats)
        instructions = data.get("instructions", {})
        print(f"simulated instructions: {sum(instructions.values())} "
              f"({', '.join(f'{k} {v}' for k, v in sorted(instructions.items()))})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
