"""Cost of CUDA emulation: a training step of examples/gpt_train's model on the CPU vs on the emulated GPU.

    python benchmarks/bench_cuda_emulation.py [--layers 2] [--embd 128] [--batch 8] [--steps 10]

Both runs execute the same CPU kernels in fp32 (no autocast, so the work is identical); the difference
is the emulation's per-operator cost (Python dispatch, wrapping, memory accounting). Prints the machine,
the median step time of each and their ratio, and the largest difference between the two runs' losses.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path


def machine_info() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, Python {platform.python_version()}"


def run(device: str, args) -> tuple[list[float], list[float]]:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "gpt_train"))
    from model import GPT, GPTConfig

    torch.manual_seed(0)
    cfg = GPTConfig(block_size=64, n_layer=args.layers, n_head=4, n_embd=args.embd)
    model = GPT(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, cfg.vocab_size, (args.batch, 64), generator=g).to(device)
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), x.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        times.append((time.perf_counter() - t0) * 1e3)
    return times, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embd", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    import porter.emulate.cuda as pc

    print(machine_info())
    cpu_times, cpu_losses = run("cpu", args)
    with pc.cuda():
        emu_times, emu_losses = run("cuda", args)
    cpu_ms, emu_ms = statistics.median(cpu_times[1:]), statistics.median(emu_times[1:])
    print(f"gpt_train model, {args.layers} layers, n_embd {args.embd}, batch {args.batch}x64, {args.steps} steps")
    print(f"CPU          {cpu_ms:8.1f} ms/step (median)")
    print(f"emulated GPU {emu_ms:8.1f} ms/step (median)  x{emu_ms / cpu_ms:.2f}")
    diff = max(abs(a - b) for a, b in zip(cpu_losses, emu_losses, strict=True))
    # not bit-equal: on a cuda device SDPA takes the math path and AdamW the per-tensor loop
    print(f"largest loss difference over the run: {diff:.2e}")


if __name__ == "__main__":
    main()
