"""What `porter parity` costs over simply running the two models.

    python benchmarks/bench_parity.py [--example gpt_train] [--repeat 3]

Ports the example to a temporary tree (not timed), then times, as fresh processes each:
- `porter parity --root examples/EXAMPLE --candidate-root PORTED` (the CLI, its worker subprocess,
  seeded weights shared by both models, the comparison and the table);
- a bare script that imports torch, builds the original and the ported model, loads one into the
  other's weights and runs one forward each: the floor any parity check pays.
Prints the median wall time of each, and porter's overhead in seconds and as a ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = textwrap.dedent("""
    import importlib, sys
    import torch

    def load(root):
        sys.path.insert(0, root)
        try:
            module = importlib.import_module("model")
            model, args = module.make_model().eval(), module.example_inputs()
        finally:
            sys.path.remove(root)
            sys.modules.pop("model", None)
        return model, args

    reference, args = load(sys.argv[1])
    candidate, _ = load(sys.argv[2])
    candidate.load_state_dict(reference.state_dict())
    with torch.no_grad():
        a, b = reference(*args), candidate(*args)
    assert torch.allclose(a, b)
""")


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example", default="gpt_train")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candidate-device", default="cpu", choices=["cpu", "neuron"],
                        help="where porter parity runs the candidate (cpu: the overhead over the bare models)")
    options = parser.parse_args(argv)
    example = ROOT / "examples" / options.example
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as tmp:
        ported = Path(tmp) / "ported"
        timed([sys.executable, "-m", "porter", "port", str(example), "--out", str(ported), "--target", "neuron"], env)
        parity_cmd = [sys.executable, "-m", "porter", "parity", "--root", str(example), "--candidate-root",
                      str(ported), "--candidate-device", options.candidate_device]
        bare_cmd = [sys.executable, "-c", BARE, str(example), str(ported)]
        timed(bare_cmd, env)  # warm the file cache once, untimed
        parity, bare = [], []
        for _ in range(options.repeat):
            bare.append(timed(bare_cmd, env))
            parity.append(timed(parity_cmd, env))
    p, b = statistics.median(parity), statistics.median(bare)
    print(f"machine: {platform.machine()}; {os.cpu_count()} cores; python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"example: {options.example}; candidate on {options.candidate_device}; median of {options.repeat} fresh "
          f"processes each")
    print(f"porter parity (CLI + worker):        {p:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in parity)})")
    print(f"two models alone (import + forward): {b:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in bare)})")
    print(f"overhead: {p - b:+.2f} s ({p / b:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
