"""Acceptance: the unported examples run under `porter run --device cuda` on this CPU-only machine."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTER = [sys.executable, "-m", "porter"]


def _run(args, cwd, timeout=240):
    return subprocess.run([*PORTER, "run", "--device", "cuda", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _copy(name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, dst)
    return dst


def test_gpt_train_unported_runs_and_matches_the_cpu_path(tmp_path):
    work = _copy("gpt_train", tmp_path)
    args = ["train.py", "--steps", "3", "--batch-size", "8", "--n-layer", "2", "--n-embd", "64", "--workers", "0",
            "--val-size", "16", "--log-every", "1"]
    emulated = _run(["--log", "calls.log", "--", "python", *args], work)
    assert emulated.returncode == 0, emulated.stderr[-3000:]
    cpu = subprocess.run([sys.executable, *args], cwd=work, capture_output=True, text=True, timeout=240)
    assert cpu.returncode == 0, cpu.stderr[-3000:]
    assert "training on cuda devices: 1 visible" in emulated.stdout and "NVIDIA A100-SXM4-80GB" in emulated.stdout
    assert "no GPU found" in cpu.stdout

    def losses(out):
        return [float(x) for x in re.findall(r"loss (\d+\.\d+)", out)]

    # the GPU path trains under fp16 autocast, the CPU path in fp32: equal to fp16 rounding
    assert losses(emulated.stdout) == pytest.approx(losses(cpu.stdout), abs=2e-3)
    assert len(losses(emulated.stdout)) == 4
    sample = lambda out: [line for line in out.splitlines() if line.startswith("[[")]  # noqa: E731
    assert sample(emulated.stdout) == sample(cpu.stdout)

    log = (work / "calls.log").read_text()
    # every CUDA call of the program, with its line
    for expected in ("train.py:19: torch.backends.cudnn.benchmark", "train.py:20: torch.backends.cuda.matmul",
                     "utils.py:54: torch.cuda.is_available", "utils.py:75: torch.cuda.get_device_capability",
                     "utils.py:86: torch.Generator(device=cuda)", "train.py:100: nn.Module.cuda",
                     "train.py:115: torch.cuda.amp.GradScaler", "train.py:117: torch.cuda.Stream",
                     "train.py:123: torch.cuda.stream", "train.py:124: Tensor.to(cuda)",
                     "train.py:127: Stream.wait_stream", "train.py:130: torch.cuda.nvtx.range_push",
                     "train.py:132: torch.cuda.amp.autocast", "utils.py:97: torch.cuda.Event",
                     "utils.py:102: Event.record", "utils.py:111: torch.cuda.synchronize",
                     "utils.py:126: torch.cuda.memory_allocated", "train.py:155: Tensor.pin_memory",
                     "train.py:111: DataLoader(pin_memory=True)", "train.py:142: torch.cuda.nvtx.range_pop",
                     "utils.py:20: import apex.optimizers", "train.py:136: GradScaler.scale",
                     "train.py:139: GradScaler.step",
                     "utils.py:149: torch.save / pickle of a cuda tensor",
                     "utils.py:134: torch.cuda.memory_summary", "utils.py:135: torch.cuda.empty_cache"):
        assert expected in log, expected
    assert "porter CUDA emulation:" in log and "intercepted calls" in emulated.stderr


def test_llama_infer_unported_gives_the_cpu_tokens(tmp_path):
    work = _copy("llama_infer", tmp_path)
    emulated = _run(["--profile", "h100", "--", "python", "infer.py", "--max-new-tokens", "5", "--warmup", "0",
                     "--batch-size", "2"], work)
    assert emulated.returncode == 0, emulated.stderr[-3000:]
    assert "on NVIDIA H100 80GB HBM3" in emulated.stdout
    rows = [line for line in emulated.stdout.splitlines() if line.startswith("[")]
    reference = subprocess.run([sys.executable, "-c", _CPU_GREEDY], cwd=work, capture_output=True, text=True,
                               timeout=120)
    assert reference.returncode == 0, reference.stderr
    assert rows == reference.stdout.split("\n")[:-1]


# The same greedy decoding on the CPU, fp16 weights as infer.py's default.
_CPU_GREEDY = """
import torch
from model import LlamaConfig, TinyLlama
torch.manual_seed(0)
cfg = LlamaConfig()
model = TinyLlama(cfg).eval().half()
prompt = torch.randint(0, cfg.vocab_size, (2, 8), generator=torch.Generator().manual_seed(0))
tokens = prompt
with torch.inference_mode():
    for _ in range(5):
        tokens = torch.cat([tokens, model(tokens)[:, -1, :].argmax(-1)[:, None]], 1)
for row in tokens.tolist():
    print(row)
"""


def test_nccl_ddp_over_two_emulated_gpus(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = _run(["--cores", "2", "--", str(torchrun), "--nproc_per_node=2", "--master_port=29533",
                 str(Path(__file__).parent / "fixtures" / "ddp_step.py")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ranks agree with the full-batch step: True" in proc.stdout
