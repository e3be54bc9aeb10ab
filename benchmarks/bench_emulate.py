"""What the emulated neuron device costs over plain CPU: forward + backward of the demo GPT.

    python benchmarks/bench_emulate.py [--repeat 20] [--batch 8] [--seq 32] [--n-layer 4] [--n-embd 256]

Builds examples/gpt_train's GPT, then times forward + backward (cross-entropy loss) on CPU tensors and
on the same model moved to the emulated `neuron` device (every ATen op goes through the wrapper
tensor's dispatch, the operator-table lookup and the memory tracking), and the same again under bf16
autocast on each, alternating CPU and device iterations. Prints the median per iteration and the
ratio (goal: at most 3x).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "gpt_train"))

from model import GPT, GPTConfig  # noqa: E402

import porter.emulate as pe  # noqa: E402


def step(model, x, y, device_type: str, amp: bool) -> None:
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        logits = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    loss.backward()
    model.zero_grad(set_to_none=True)


def interleaved_ms(cpu_fn, device_fn, repeat: int) -> tuple[float, float]:
    """Median ms of each, timed alternately so that a change in machine load hits both alike."""
    cpu_fn(), device_fn()  # warm-up
    cpu_times, device_times = [], []
    for _ in range(repeat):
        for fn, times in ((cpu_fn, cpu_times), (device_fn, device_times)):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(cpu_times), statistics.median(device_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=256)
    args = parser.parse_args()

    torch.manual_seed(0)
    cfg = GPTConfig(block_size=args.seq, n_layer=args.n_layer, n_head=8, n_embd=args.n_embd)
    model = GPT(cfg)
    x = torch.randint(0, cfg.vocab_size, (args.batch, args.seq))
    y = torch.randint(0, cfg.vocab_size, (args.batch, args.seq))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"GPT: {args.n_layer} layers, {args.n_embd} wide, batch {args.batch} x {args.seq} tokens, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters; median of {args.repeat}")
    with pe.neuron() as state:
        on_device = copy.deepcopy(model).to("neuron")
        xd, yd = x.to("neuron"), y.to("neuron")
        for amp in (False, True):
            before = sum(r.count for r in state.ops.values())
            cpu, emulated = interleaved_ms(lambda amp=amp: step(model, x, y, "cpu", amp),
                                           lambda amp=amp: step(on_device, xd, yd, "neuron", amp), args.repeat)
            calls = (sum(r.count for r in state.ops.values()) - before) / (args.repeat + 1)
            label = "bf16 autocast" if amp else "fp32"
            print(f"  {label:14s} cpu {cpu:8.1f} ms   emulated neuron {emulated:8.1f} ms   "
                  f"ratio {emulated / cpu:4.2f}x "
                  f"({calls:.0f} ATen ops per iteration on the device)")


if __name__ == "__main__":
    main()
