"""Ported snippets that are run, not only read: on the CPU and on porter's emulated Neuron device.

Each snippet is our own minimal version of a pattern met in a public training repository
(docs/regression.md, "Executed ports"); the port must run where the original ran, with the same
numbers, and take the device path on Neuron.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

pytest.importorskip("torch")

CATALOGUE = load_catalogue()


def port(code: str, target: str = "neuron") -> str:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    index = RuleIndex.build(rules)
    result = port_source(code, "snippet.py", index, CATALOGUE, target)
    assert result.error is None, result.error
    assert port_source(result.ported, "snippet.py", index, CATALOGUE, target).ported == result.ported
    return result.ported


def run(code: str, device: str = "cpu") -> str:
    """Run `code` in a fresh interpreter, on the plain CPU or on the emulated neuron device."""
    if device == "neuron":
        code = "import porter.emulate as _pe\nwith _pe.neuron():\n" + textwrap.indent(code, "    ")
    elif device == "cuda":  # the original's host: a GPU, emulated
        code = "import porter.emulate.cuda as _pc\nwith _pc.cuda():\n" + textwrap.indent(code, "    ")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_a_list_of_allowed_device_names_admits_the_neuron_device():
    # A device whitelist checked by membership: the name the port now picks must pass it.
    source = textwrap.dedent("""\
        import torch

        def autodetect():
            return "cuda" if torch.cuda.is_available() else "cpu"

        def init(device_type="cuda"):
            assert device_type in ["cuda", "mps", "cpu"], "invalid device type"
            if device_type not in ("cuda",):
                return torch.device("cpu")
            return torch.device(device_type)

        print(init(autodetect()).type)
        """)
    ported = port(source)
    assert 'in ["neuron", "mps", "cpu"]' in ported and 'not in ("neuron",)' in ported
    assert run(ported, "neuron").split() == ["neuron"]
    assert run(ported).split() == run(source).split() == ["cpu"]
    assert 'in ["xla", "mps", "cpu"]' in port(source, "xla")


def test_a_membership_test_of_other_strings_is_left_alone():
    source = 'import torch\nmode = "train"\nok = mode in ["train", "eval"]\nd = "cuda" in ["a", "b"]\n'
    assert '["train", "eval"]' in port(source) and '["a", "b"]' in port(source)


def test_an_autocast_made_later_through_partial_is_ported_like_the_call():
    # A quantizer that forces fp32 with a context made by functools.partial: on Neuron the device's
    # autocast must be the one switched off, or the step silently runs in bf16.
    source = textwrap.dedent("""\
        from contextlib import nullcontext
        from functools import partial
        import torch
        from torch.amp import autocast

        def quantize(x, force_f32=True):
            context = partial(autocast, "cuda", enabled=False) if force_f32 else nullcontext
            with context():
                return x @ x

        device = "neuron" if getattr(torch, "neuron", None) is not None and torch.neuron.is_available() else "cpu"
        x = torch.randn(4, 4).to(device)
        with torch.autocast(device, dtype=torch.bfloat16):
            print(quantize(x).dtype, quantize(x, False).dtype)
        """)
    ported = port(source)
    assert 'partial(torch.autocast, _porter_device().type, enabled=False, dtype=torch.float16)' in ported
    assert "from torch.amp import autocast" not in ported
    assert run(ported, "neuron").split() == ["torch.float32", "torch.bfloat16"]
    # On the CPU the original's CUDA switch left a CPU autocast on; the port switches off the autocast
    # of the device it runs on, as a plain `with autocast("cuda", enabled=False)` is ported.
    assert run(ported).split() == ["torch.float32", "torch.bfloat16"]


ATTEND = textwrap.dedent("""\
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    class Attend(torch.nn.Module):
        def __init__(self, flash=True):
            super().__init__()
            self.cpu_backends = [SDPBackend.MATH]
            self.cuda_backends = None
            if not torch.cuda.is_available() or not flash:
                return
            major, _ = torch.cuda.get_device_capability()
            self.cuda_backends = [SDPBackend.FLASH_ATTENTION] if major >= 8 else [SDPBackend.MATH]

        def forward(self, q, k, v):
            n, is_cuda, device = q.shape[-2], q.is_cuda, q.device
            backends = self.cuda_backends if is_cuda else self.cpu_backends
            with sdpa_kernel(backends):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    device = "neuron" if getattr(torch, "neuron", None) is not None and torch.neuron.is_available() else "cpu"
    torch.manual_seed(0)
    q = torch.randn(1, 2, 4, 8).to(device)
    print(round(Attend()(q, q, q).sum().item(), 4))
    """)


def test_a_device_test_kept_in_a_variable_that_selects_a_cuda_only_setting_stays():
    # `self.cuda_backends` is set only behind a kept CUDA availability test (None elsewhere): the
    # test that selects it, stored in `is_cuda` first, keeps its CUDA meaning, or Neuron gets None.
    ported = port(ATTEND)
    assert "q.is_cuda" in ported and "NRN106 .is_cuda: not rewritten here, stored in is_cuda" in ported
    assert run(ported, "neuron") == run(ported) == run(ATTEND)
    unpacked = ATTEND.replace("n, is_cuda, device = q.shape[-2], q.is_cuda, q.device",
                              "_, h, n, _, is_cuda, device = *q.shape, q.is_cuda, q.device")
    assert "q.is_cuda" in port(unpacked)


def test_a_stored_device_test_that_only_picks_a_device_path_is_still_rewritten():
    source = ("import torch\n\ndef f(x):\n    is_cuda = x.is_cuda\n    scale = 2.0 if is_cuda else 1.0\n"
              "    return x * scale\n")
    assert 'is_cuda = x.device.type == "neuron"' in port(source)


def test_a_stored_flag_also_read_as_a_device_path_is_rewritten():
    # One read needs the device (the model goes there), another guards CUDA-only code: the flag is
    # rewritten, and the CUDA-only read is marked for a person.
    source = textwrap.dedent("""\
        import torch

        def setup(device, model):
            on_gpu = device.type == "cuda"
            model = model.to(device) if on_gpu else model
            stream = torch.cuda.Stream() if on_gpu else None
            return model, stream
        """)
    assert 'on_gpu = device.type == "neuron"' in port(source)


def test_a_device_prefix_test_spelled_startswith_follows_the_device_name():
    # `device_type = "cuda" if device.startswith("cuda") else "cpu"` then autocast(device_type): the
    # port names the device "neuron", so the prefix test must ask for "neuron" too, or the program
    # autocasts on the CPU and its device steps run in fp32.
    source = textwrap.dedent("""\
        import torch
        device = "cpu"
        if torch.cuda.is_available():
            device = "cuda"
        device_type = "cuda" if device.startswith("cuda") else "cpu"
        x = torch.randn(4, 4).to(device)
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            print(device_type, (x @ x).dtype)
        """)
    ported = port(source)
    assert 'device.startswith("neuron")' in ported
    assert run(ported, "neuron").split() == ["neuron", "torch.bfloat16"]
    assert run(ported).split() == run(source).split() == ["cpu", "torch.bfloat16"]
    assert 'startswith("cuda:0")' in port('import torch\nok = str(d).startswith("cuda:0")\n')


def test_module_compile_gets_the_device_backend_like_torch_compile():
    # nn.Module.compile() passes its arguments to torch.compile: without a backend it is Inductor.
    source = textwrap.dedent("""\
        import re
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 4).to(device)
        model.compile(dynamic=False)
        print(round(model(torch.ones(2, 4).to(device)).sum().item(), 5), bool(re.compile("a").match("a")))
        """)
    ported = port(source)
    assert 'model.compile(dynamic=False, backend=("neuron" if _porter_device().type == "neuron" else "inductor"))' \
        in ported and 're.compile("a")' in ported
    assert run(ported, "neuron") == run(ported) == run(source)


def test_a_process_group_bound_to_a_cuda_device_runs_ported_on_the_cpu_and_on_neuron():
    # torchrun-style setup: the bound device becomes the CPU where there is no Neuron device, and
    # init_process_group(device_id=<cpu>) raises; without device_id the group connects on first use.
    source = textwrap.dedent("""\
        import os
        import torch
        import torch.distributed as dist
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(29600 + os.getpid() % 300))
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
        x = torch.ones(3, device=device)
        dist.all_reduce(x)
        print(x.device.type, x.sum().item())
        dist.destroy_process_group()
        """)
    ported = port(source)
    assert "device_id" not in ported
    assert run(ported).split() == ["cpu", "3.0"]
    assert run(ported, "neuron").split() == ["neuron", "3.0"]


def test_the_device_a_kept_cuda_call_asks_about_stays_cuda():
    # The properties call stays CUDA (marked); rewriting its argument made it ask CUDA about the CPU
    # on a GPU host (ValueError) where the original worked.
    source = textwrap.dedent("""\
        import torch

        def sm_count():
            if not torch.cuda.is_available():
                return 0
            return torch.cuda.get_device_properties(torch.device("cuda")).multi_processor_count

        print(sm_count())
        """)
    ported = port(source)
    assert 'get_device_properties(torch.device("cuda"))' in ported
    assert run(ported, "cuda") == run(source, "cuda") != "0\n"
    assert run(ported, "neuron").split() == run(ported).split() == ["0"]


def test_an_f_string_without_fields_names_the_device_it_spells():
    # `th.device(f"cuda")` behind a test the port rewrote: left as it was, Neuron got a CUDA device.
    source = textwrap.dedent("""\
        import torch as th

        def dev():
            if th.cuda.is_available():
                return th.device(f"cuda")
            return th.device("cpu")

        print(th.ones(2).to(dev()).device.type)
        """)
    ported = port(source)
    assert 'f"cuda"' not in ported
    assert run(ported, "neuron").split() == ["neuron"]
    assert run(ported).split() == run(source).split() == ["cpu"]


def test_a_cpu_test_in_front_of_a_cuda_extension_lets_neuron_take_the_pytorch_path():
    # "CPU or CUDA?": the extension build is guarded by the port, and a Neuron tensor, being no CPU
    # tensor, went to the extension. The test becomes "CPU or Neuron?"; CPU and CUDA are unchanged.
    source = textwrap.dedent("""\
        import torch
        from torch.utils.cpp_extension import load

        ext = load("scale_ext", sources=["scale.cpp", "scale_kernel.cu"])

        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return ext.scale(x, 2.0)

        def scale(x):
            if x.device.type == "cpu":
                return x * 2.0
            return Scale.apply(x)

        def plain(x):
            return x.float() if x.device.type == "cpu" else x.half()

        device = "neuron" if getattr(torch, "neuron", None) is not None and torch.neuron.is_available() else "cpu"
        print(scale(torch.ones(2).to(device)).sum().item(), plain(torch.ones(1).to(device)).dtype)
        """)
    ported = port(source)
    assert 'if x.device.type in ("cpu", "neuron"):' in ported
    assert 'x.float() if x.device.type == "cpu" else x.half()' in ported  # chooses nothing CUDA-only
    assert run(ported, "neuron").split() == ["4.0", "torch.float16"]
    assert run(ported).split() == ["4.0", "torch.float32"]
    assert 'x.device.type in ("cpu", "xla")' in port(source, "xla")


def test_a_device_test_in_front_of_a_swapped_kernel_lets_neuron_take_the_kernel():
    # flash-attn's import is swapped for porter's drop-in on every target, so the branch it guards
    # is no CUDA-only code after the port: the CUDA test becomes the Neuron test, and on Neuron the
    # program calls the drop-in (NKI attention) where on a GPU it called flash-attn.
    source = textwrap.dedent("""\
        import torch
        import torch.nn.functional as F

        try:
            from flash_attn import flash_attn_func
        except ImportError:
            flash_attn_func = None

        def attend(q, k, v):  # (batch, seq, heads, dim), flash-attn's layout
            if flash_attn_func is not None and q.device.type == "cuda":
                print("kernel")
                return flash_attn_func(q, k, v, causal=True)
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                 is_causal=True)
            return out.transpose(1, 2)

        torch.manual_seed(0)
        q, k, v = (torch.randn(1, 16, 2, 16) for _ in range(3))
        want = attend(q, k, v)
        device = "neuron" if getattr(torch, "neuron", None) is not None and torch.neuron.is_available() else "cpu"
        got = attend(q.to(device), k.to(device), v.to(device)).cpu()
        print(round((got - want).abs().max().item(), 3))
        """)
    ported = port(source)
    assert 'from porter.kernels.compat.flash_attn import flash_attn_func' in ported
    assert 'if flash_attn_func is not None and q.device.type == "neuron":' in ported
    assert run(ported, "neuron").split() == ["kernel", "0.0"]
    assert run(ported).split() == ["0.0"]  # the CPU takes the PyTorch path, as before the port


def test_a_function_answering_with_a_device_test_is_kept_where_its_calls_gate_cuda_only_code():
    # `if x.device.type != "cuda": return False` in a predicate whose callers launch a kernel when it
    # says yes: on Neuron the predicate must still say no (the kernel is CUDA's), as on the CPU.
    source = textwrap.dedent("""\
        import torch

        enabled = True

        def _use_kernel(x):
            if not enabled:
                return False
            if x.device.type != "cuda":
                return False
            return True

        def _launch(x):
            out = torch.empty_like(x)
            _DOUBLE_KERNEL[(x.numel(),)](out, x)
            return out

        def double(x):
            if _use_kernel(x):
                return _launch(x)
            return x * 2

        def on_gpu(x):
            return x.device.type == "cuda"

        def triple(x):
            if on_gpu(x):
                return x * 3
            return x + x + x

        device = "cuda" if torch.cuda.is_available() else "cpu"
        x = torch.arange(3.0).to(device)
        print(double(x).tolist(), triple(x).tolist(), x.device.type)
    """)
    ported = port(source)
    assert 'if x.device.type != "cuda":' in ported and "_use_kernel() answers with it" in ported
    assert 'return x.device.type == "neuron"' in ported  # a predicate that gates nothing CUDA-only
    assert run(source) == run(ported) == "[0.0, 2.0, 4.0] [0.0, 3.0, 6.0] cpu\n"
    assert run(ported, "neuron") == "[0.0, 2.0, 4.0] [0.0, 3.0, 6.0] neuron\n"


def test_dynamic_shapes_are_not_asked_of_the_neuron_backend():
    # A prefill compiled for any prompt length: TorchNeuron's backend rejects dynamic=True; with
    # dynamic=False it recompiles per new shape, same numbers. CPU and CUDA keep dynamic=True.
    source = textwrap.dedent("""\
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"

        def prefill(x):
            return (x * x).sum(-1)

        prefill = torch.compile(prefill, fullgraph=True, dynamic=True)
        for n in (3, 5):
            print(prefill(torch.arange(n, dtype=torch.float32, device=device)).item())
        """)
    ported = port(source)
    assert 'dynamic=(_porter_device().type != "neuron"), backend=(' in ported
    # on the emulated device (the CPU keeps the program's dynamic=True: Inductor's compile there would
    # only slow the suite); 0+1+4 and 0+1+4+9+16
    assert run(ported, "neuron") == "5.0\n30.0\n"
    assert 'torch.compile(prefill, fullgraph=True, dynamic=(_porter_device().type != "neuron"))' \
        in port(source, "portable")
    # a value of the program's own is kept, and marked; False and None are left alone
    own = port("import torch\nf = torch.compile(f, dynamic=args.dynamic)\ng = torch.compile(g, dynamic=None)\n")
    assert "# porter: NRN506" in own and "dynamic=args.dynamic" in own and "dynamic=None" in own


def test_code_that_runs_only_under_a_kept_cuda_test_keeps_its_cuda_calls():
    # The tests stay CUDA (they guard capability checks), so what they let run only runs on a GPU
    # host: rewritten, the device name read "cpu" (neuron) or "cuda" (portable) there.
    source = textwrap.dedent("""\
        import torch

        def describe():
            if torch.cuda.is_available():
                major, minor = torch.cuda.get_device_capability()
                return f"{torch.cuda.get_device_name(0)} sm{major}{minor}"
            return "no gpu"

        def pick():
            if not torch.cuda.is_available():
                return "none"
            major, _ = torch.cuda.get_device_capability()
            return torch.cuda.get_device_name() if major >= 8 else "old"

        def card(device_type):
            assert device_type == "cuda", "needs a GPU"
            total = torch.cuda.get_device_properties(0).total_memory
            return torch.cuda.get_device_name(0), total > 0

        print(describe(), pick())
        if torch.cuda.is_available():
            print(card("cuda"))
        """)
    for target in ("neuron", "portable"):
        ported = port(source, target)
        assert "_porter_device" not in ported
        assert ported.count("not rewritten here, it runs only on CUDA") == 3
        if target == "neuron":  # portable marks every `== "cuda"` with its own text
            assert "precondition of CUDA-only code (NRN128 at line 17)" in ported  # said once
        assert run(ported, "cuda") == run(source, "cuda")
        assert "NVIDIA" in run(ported, "cuda")
        assert run(ported) == run(source) == "no gpu none\n"
    assert run(port(source), "neuron") == "no gpu none\n"


def test_code_under_a_device_string_test_that_portable_keeps_keeps_its_cuda_calls():
    # `device_type == "cuda"` stays on `portable` (marked: no device-agnostic spelling), so its body
    # runs only on a GPU host; rewritten, the GPU's name read "cuda" there and the H100 figure was lost.
    source = textwrap.dedent("""\
        import torch

        device_type = "cuda" if torch.cuda.is_available() else "cpu"
        if device_type == "cuda":
            name = torch.cuda.get_device_name(0)
            print("gpu", name.startswith("NVIDIA"))
        else:
            print("host")
        """)
    ported = port(source, "portable")
    assert "torch.cuda.get_device_name(0)" in ported
    assert "it runs only on CUDA (the CUDA test at line 4 stays, NRN107)" in ported
    assert run(ported, "cuda") == run(source, "cuda") == "gpu True\n"
    assert run(ported) == run(source) == "host\n"
    neuron = port(source, "neuron")  # the test becomes a Neuron test there, and its body is ported
    assert 'device_type == "neuron"' in neuron and "torch.cuda" not in neuron
    assert run(neuron, "neuron") == "gpu False\n"


def test_code_under_a_device_test_that_is_rewritten_is_still_ported():
    # Nothing CUDA-only under the test: it becomes a Neuron test, and its body is ported with it.
    source = textwrap.dedent("""\
        import torch

        if torch.cuda.is_available():
            print(torch.cuda.get_device_name(0))
        else:
            print("none")
        """)
    ported = port(source)
    assert "torch.accelerator.is_available()" in ported and "str(_porter_device())" in ported
    assert run(ported, "neuron") == "neuron\n"


def test_calling_what_a_table_holds_is_no_kernel_launch():
    # `MODELS[name](...)` and `self.blocks[i](h)` call what a dict or a module list holds; only a
    # `kernel[grid](...)` launch makes the device test before it a CUDA precondition. Taken for a launch,
    # `assert torch.cuda.is_available()` stayed, and with it every CUDA call after it in the script.
    source = textwrap.dedent("""\
        import torch

        class Stack(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.blocks = torch.nn.ModuleList([torch.nn.Linear(width, width) for _ in range(2)])

            def forward(self, h):
                for i in range(len(self.blocks)):
                    h = self.blocks[i](h)
                return h

        MODELS = {"stack": Stack}

        def main(name="stack"):
            assert torch.cuda.is_available(), "training needs a GPU"
            device = torch.cuda.current_device()
            torch.manual_seed(0)
            model = MODELS[name](4).to(device)
            x = torch.ones(2, 4, device=device)
            loss = model(x).square().mean()
            loss.backward()
            torch.cuda.synchronize()
            print(round(loss.item(), 6), next(model.parameters()).device.type)

        main()
        """)
    ported = port(source)
    assert "assert torch.accelerator.is_available()" in ported and "kernel launch" not in ported
    assert "torch.cuda" not in ported
    expected = run(source, "cuda").split()
    assert expected[1] == "cuda"
    assert run(ported, "neuron").split() == [expected[0], "neuron"]
    # The same lookups, the table imported from another module of the program: still lookups.
    imported = port("import torch\nfrom models import MODELS\n\n\ndef main(args):\n"
                    "    assert torch.cuda.is_available()\n    return MODELS[args.model](4)\n")
    assert "assert torch.accelerator.is_available()" in imported


def test_a_kernel_launch_still_keeps_the_cuda_precondition():
    # A grid written in place (`kernel[(n,)]`), a kernel language imported (`kernel[grid]`), or a kernel
    # whose origin the file does not show: the device test before it keeps its CUDA meaning.
    in_place = ("import torch\nfrom .kernels import scale_kernel\n\n\ndef scale(x):\n"
                "    assert x.is_cuda\n    scale_kernel[(x.numel(),)](x)\n")
    with_triton = ("import torch\nimport triton\nfrom .kernels import scale_kernel\n\n\ndef scale(x, grid):\n"
                   "    assert x.is_cuda\n    scale_kernel[grid](x)\n")
    unseen = ("import torch\nfrom .kernels import *\n\n\ndef scale(x, grid):\n"
              "    assert x.is_cuda\n    scale_kernel[grid](x)\n")
    for source in (in_place, with_triton, unseen):
        ported = port(source)
        assert "assert x.is_cuda" in ported and "a kernel launch" in ported, ported


def test_another_packages_cuda_api_keeps_the_device_test_before_it():
    # `tvm.cuda(i)` (TVM's CUDA device) is CUDA-only code porter has no rule for: the test choosing it must
    # keep its CUDA meaning, or a Neuron device is handed to TVM's CUDA target.
    source = textwrap.dedent("""\
        import torch

        def build(device):
            import tvm
            if device.type == "cuda":
                return tvm.cuda(device.index), tvm.target.cuda()
            return tvm.cpu(0), "llvm"

        def place(model, x):
            if x.device.type == "cuda":
                return model.cuda()
            return model
        """)
    ported = port(source)
    assert 'if device.type == "cuda":' in ported and "another package's CUDA API (tvm.cuda" in ported
    assert 'if x.device.type == "neuron":' in ported  # torch's own `.cuda()` is ported: no reason to keep
