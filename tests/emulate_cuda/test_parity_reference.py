"""The original as the parity reference: run under `porter.emulate.cuda()` in a worker process, compared on CPU."""

import subprocess
import sys
import textwrap
from pathlib import Path

_WORKER = textwrap.dedent('''
    import torch, torch.nn as nn
    import porter.emulate.cuda as pc

    class Original(nn.Module):           # a CUDA original: .cuda() in __init__, inputs moved in forward
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 16).cuda()
            self.fc2 = nn.Linear(16, 4).cuda()
        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x.cuda())))

    class Port(nn.Module):               # its port, and a wrong port (sigmoid for relu)
        def __init__(self, act):
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Linear(8, 16), nn.Linear(16, 4), act
        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    def layers(model, x):
        seen = {}
        for name, mod in model.named_children():
            mod.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
        with torch.no_grad():
            out = model(x)
        return pc.to_cpu(out), pc.to_cpu(seen)

    x = torch.randn(3, 8)
    with pc.cuda():
        torch.manual_seed(0)
        ref = Original().eval()
        assert all(p.is_cuda for p in ref.parameters())
        ref_out, ref_layers = layers(ref, x)
        weights = pc.to_cpu(ref.state_dict())
    for act in (torch.relu, torch.sigmoid):
        cand = Port(act).eval()
        cand.load_state_dict(weights)
        out, cand_layers = layers(cand, x)
        first = next((n for n in ("fc1", "fc2") if not torch.allclose(ref_layers[n], cand_layers[n])), None)
        print(act.__name__, torch.equal(out, ref_out), first)
''')


def test_reference_under_emulation_in_a_worker_process():
    proc = subprocess.run([sys.executable, "-c", _WORKER], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["relu True None", "sigmoid False fc2"]


def test_emulation_after_a_cpu_backward_in_the_same_process():
    # a parity worker may train or differentiate the CPU candidate before the emulated reference runs
    script = textwrap.dedent('''
        import torch, porter.emulate.cuda as pc
        x = torch.ones(2, requires_grad=True)
        (x * 2).sum().backward()
        with pc.cuda():
            y = torch.ones(2, device="cuda", requires_grad=True)
            (y * 3).sum().backward()
            print(y.grad.device, y.grad.tolist())
        z = torch.ones(2, requires_grad=True)
        (z * 4).sum().backward()
        print(z.grad.tolist(), torch._C._is_multithreading_enabled())
    ''')
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["cuda:0 [3.0, 3.0]", "[4.0, 4.0] True"]


FIXTURE = Path(__file__).parent / "fixtures" / "cuda_init"


def _parity(candidate: str, tmp_path):
    return subprocess.run([sys.executable, "-m", "porter", "parity", "--root", str(FIXTURE / "orig"),
                           "--candidate-root", str(FIXTURE / candidate), "--model", "model:make_model",
                           "--inputs", "model:example_inputs", "--reference-device", "cuda",
                           "--candidate-device", "cpu", "--layers"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)


def test_parity_of_an_original_that_calls_cuda_in_init(tmp_path):
    """The reference is built inside the CUDA emulation (porter/parity/run.py), so .cuda() in __init__ works."""
    right = _parity("port", tmp_path)
    assert right.returncode == 0, right.stdout[-2000:] + right.stderr[-2000:]
    wrong = _parity("wrong", tmp_path)
    assert wrong.returncode == 1 and "first diverging module: act" in wrong.stdout
