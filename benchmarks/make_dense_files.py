"""Writes the port benchmark's worst case: three files of about 1 MiB each in which nearly every
statement holds a site (`.cuda()` on every line; functions of AMP, device and stream calls; modules
with device strings and NCCL). Then time them one at a time:

    python benchmarks/make_dense_files.py /tmp/dense
    python benchmarks/bench_port_files.py /tmp/dense
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SIZE = 1 << 20
BODY_LINES = [
    "    y = x.cuda()\n", "    torch.cuda.synchronize()\n", "    z = torch.zeros(3, device='cuda')\n",
    "    if torch.cuda.is_available():\n        n = torch.cuda.device_count()\n",
    "    with torch.cuda.amp.autocast():\n        y = model(x)\n",
    "    scaler = torch.cuda.amp.GradScaler()\n", "    a = b + c\n", "    q = [1, 2, 3]\n",
    "    return_value = foo(bar)\n",
]


def _write(path: Path, head: str, unit) -> None:
    parts, size, i = [head], len(head), 0
    while size < SIZE:
        text = unit(i)
        parts.append(text)
        size += len(text)
        i += 1
    path.write_text("".join(parts))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "dense")
    out.mkdir(parents=True, exist_ok=True)
    pick = random.Random(1)
    _write(out / "a_every_line.py", "import torch\n\n", lambda i: f"x{i} = torch.randn(4).cuda()\n")
    _write(out / "b_functions.py", "import torch\n\n", lambda i: f"def f{i}(x, model, b, c):\n"
           + "".join(pick.choice(BODY_LINES) for _ in range(8)) + "    return x\n\n")
    _write(out / "c_class.py", "import torch\nimport torch.distributed as dist\n\n", lambda i: (
        f"class M{i}(torch.nn.Module):\n    def forward(self, x):\n        x = x.to('cuda:0')\n"
        "        dist.init_process_group('nccl')\n        return x.half().cuda()\n\n"))
    for path in sorted(out.glob("*.py")):
        print(f"{path}: {path.stat().st_size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
