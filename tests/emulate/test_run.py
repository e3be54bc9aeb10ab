"""`porter run`: the program runs emulated in every process, its exit code passes through, a report is written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

PORTER = [sys.executable, "-m", "porter"]

SCRIPT = '''
import sys, torch
import multiprocessing as mp


def child(q):
    import torch
    q.put(str(torch.ones(1, device="neuron").device))


if __name__ == "__main__":
    x = torch.ones(3, device="neuron")
    print("device", x.device, "args", sys.argv[1:])
    torch.sort(x)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    print("child", q.get())
    p.join()
    if sys.argv[1:] == ["boom"]:
        raise SystemExit(5)
'''


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PORTER, "run", *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_run_emulates_children_and_writes_the_report(tmp_path):
    (tmp_path / "prog.py").write_text(SCRIPT)
    done = run(tmp_path, "--report", "r.json", "--", "python", "prog.py", "boom")
    assert done.returncode == 5, done.stderr
    assert "device neuron:0 args ['boom']" in done.stdout
    assert "child neuron:0" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 5 and report["processes"] >= 2
    fallback = [op for op in report["cpu_fallbacks"] if op["op"] == "sort"]
    assert fallback and any("prog.py:14" in s for s in fallback[0]["sources"])


def test_run_passes_a_traceback_through_and_still_reports(tmp_path):
    (tmp_path / "bad.py").write_text("import torch\nx = torch.ones(2, device='neuron')\nraise ValueError('nope')\n")
    done = run(tmp_path, "--report", "r.md", "--", "python", "bad.py")
    assert done.returncode == 1
    assert "ValueError: nope" in done.stderr
    assert "# porter run" in (tmp_path / "r.md").read_text()


def test_run_missing_script_and_bad_options(tmp_path):
    done = run(tmp_path, "--report", "r.json", "--", "python", "missing.py")
    assert done.returncode == 2 and "missing.py" in done.stderr
    assert "missing.py: no such script" in json.loads((tmp_path / "r.json").read_text())["warnings"]
    bad = run(tmp_path, "--platform", "trn9", "--", "python", "x.py")
    assert bad.returncode == 2 and "trn9" in bad.stderr


DDP_SCRIPT = '''
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

dist.init_process_group(backend="neuron")
rank = dist.get_rank()
device = torch.device("neuron")  # each process's own NeuronCore
torch.manual_seed(0)
model = DistributedDataParallel(torch.nn.Linear(4, 2).to(device))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
model(torch.full((3, 4), float(rank + 1), device=device)).sum().backward()
opt.step()
total = torch.tensor([float(rank + 1)], device=device)
dist.all_reduce(total)
print(f"rank {rank} {total.device} {total.item()} {model.module.weight[0, 0].item():.6f}")
dist.destroy_process_group()
'''


def test_two_process_torchrun_ddp_over_the_neuron_backend(tmp_path):
    (tmp_path / "ddp.py").write_text(DDP_SCRIPT)
    done = run(tmp_path, "--", "python", "-m", "torch.distributed.run", "--nproc_per_node", "2", "ddp.py")
    assert done.returncode == 0, done.stderr
    # torchrun's workers write unbuffered: one rank's text and another's newline may interleave
    lines = sorted(re.findall(r"rank (\d) (\S+) (\S+) (-?\d+\.\d{6})", done.stdout))
    assert [line[:3] for line in lines] == [("0", "neuron:0", "3.0"), ("1", "neuron:0", "3.0")], done.stdout
    assert lines[0][3] == lines[1][3]  # DDP averaged the gradients: both replicas agree


def test_a_process_group_bound_to_the_device_with_device_id(tmp_path):
    # init_process_group(device_id=...) asks the group for its backend on that device.
    (tmp_path / "pg.py").write_text(
        "import os, torch, torch.distributed as dist\n"
        "os.environ.update(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='29561')\n"
        "dist.init_process_group(backend='neuron', device_id=torch.device('neuron', 0))\n"
        "x = torch.ones(2, device='neuron')\ndist.all_reduce(x)\nprint(x.device, x.sum().item())\n"
        "dist.destroy_process_group()\n")
    done = run(tmp_path, "--", "python", "pg.py")
    assert done.returncode == 0, done.stderr
    assert "neuron:0 2.0" in done.stdout


def test_run_module_and_an_existing_sitecustomize_still_runs(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import builtins\nbuiltins.USER_SITE_RAN = True\n")
    (tmp_path / "mod.py").write_text("import builtins, torch\n"
                                     "print('user site', getattr(builtins, 'USER_SITE_RAN', False))\n"
                                     "print('device', torch.zeros(1, device='neuron').device)\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([*PORTER, "run", "-m", "mod"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "user site True" in done.stdout and "device neuron:0" in done.stdout


def test_strict_run_raises_on_a_cpu_fallback(tmp_path):
    (tmp_path / "s.py").write_text("import torch\ntorch.sort(torch.ones(3, device='neuron'))\n")
    done = run(tmp_path, "--strict", "--", "python", "s.py")
    assert done.returncode == 1 and "strict mode forbids CPU fallback" in done.stderr
