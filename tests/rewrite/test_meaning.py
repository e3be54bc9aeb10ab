"""Rewrites keep the program's meaning (docs/rule-format.md, "The principle").

Each test ports a minimal snippet, runs the ported code on the CPU with torch, and checks that it
means what the original meant: the user's values are kept, CUDA-only code stays behind its guard,
and a site porter cannot prove safe is marked. Every snippet is also ported twice (idempotence).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

torch = pytest.importorskip("torch")

CATALOGUE = load_catalogue()
# Every snippet a test ports, for the idempotence property below.
SNIPPETS: list[tuple[str, str, bool]] = []


def _index(target: str) -> RuleIndex:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    return RuleIndex.build(rules)


def port(code: str, target: str = "neuron", unsafe: bool = False, path: str = "snippet.py",
         extensions: frozenset[str] = frozenset()):
    """The ported text and the port's changes; the port must succeed and parse."""
    SNIPPETS.append((code, target, unsafe))
    result = port_source(code, path, _index(target), CATALOGUE, target, unsafe, extensions)
    assert result.error is None, result.error
    compile(result.ported, "ported.py", "exec")
    return result.ported, result.changes


def run(code: str, **names) -> dict:
    """Execute ported code as a module on the CPU; its globals afterwards."""
    namespace = {"__name__": "ported", **names}
    exec(compile(code, "ported.py", "exec"), namespace)
    return namespace


@pytest.fixture
def no_triton(monkeypatch):
    """A machine without Triton (whatever this one has installed)."""
    monkeypatch.setitem(sys.modules, "triton", None)
    monkeypatch.setitem(sys.modules, "triton.language", None)


# -- 7. the stand-in for a missing CUDA-only package is inert at import ---------------------------

TRITON_META = '''
import triton
import triton.language as tl
from packaging import version

NEW_TRITON = version.parse(triton.__version__) >= version.parse("2.1")
configs = [triton.Config({"BLOCK": 128}, num_warps=8), triton.Config({"BLOCK": 64}, num_warps=4)]
small = [c for c in configs if c.num_warps <= 4]
by_warps = sorted(configs, key=lambda c: c.num_warps)


@triton.autotune(configs=configs, key=["n"])
@triton.jit
def kernel(x_ptr, n, BLOCK: tl.constexpr):
    pass


MIN_BLOCK = min(cfg.kwargs["BLOCK"] for cfg in kernel.configs)
WIDE = max(c.num_warps for c in configs) * 2 + 1
for config in configs:
    config.kwargs["BLOCK"] = config.kwargs["BLOCK"] // 2


def launch(x):
    kernel[(1,)](x, 1, BLOCK=MIN_BLOCK)


def is_config(obj):
    return isinstance(obj, triton.Config)
'''


def test_module_level_meta_programming_over_a_missing_package_imports(no_triton):
    ported, _ = port(TRITON_META)
    module = run(ported)
    assert module["NEW_TRITON"] is False  # a missing package is older than any release
    assert module["small"] == []
    assert module["is_config"](object()) is False
    with pytest.raises(ImportError, match=r"kernel needs 'triton'.*NRN406"):
        module["launch"](torch.zeros(2))


# -- 4. device tests that gate CUDA-only code keep their CUDA meaning -----------------------------

GATED_TESTS = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _scale_kernel(x_ptr, n, BLOCK: tl.constexpr):
    pass


def triton_scale(x):
    _scale_kernel[(1,)](x, x.numel(), BLOCK=128)
    return x * 2


def scale(x):
    if x.is_cuda:
        return triton_scale(x)
    return x * 2


def checked(x):
    assert x.is_cuda
    return triton_scale(x)


def placed(x):
    assert x.is_cuda
    return x + 1


def on_accelerator(x):
    if x.is_cuda:
        x = x.float()
    return x


def use_fused(fused_available, device_type):
    flag = fused_available and device_type == "cuda"
    return flag


class Options:
    def __init__(self, flag):
        self.is_cuda = flag

    def describe(self):
        if self.is_cuda:
            return "gpu"
        return "cpu"
'''


def test_device_tests_that_gate_cuda_only_code_are_kept_and_marked(no_triton):
    ported, changes = port(GATED_TESTS)
    assert "    if x.is_cuda:\n        return triton_scale(x)" in ported
    assert "    assert x.is_cuda\n    return triton_scale(x)" in ported
    assert '    assert x.device.type == "neuron"\n    return x + 1' in ported
    assert 'flag = fused_available and device_type == "cuda"' in ported
    assert ported.count("# porter: NRN106") == 2 and ported.count("# porter: NRN107") == 1
    # "which device am I on" is rewritten; the file's own `is_cuda` attribute is left alone
    assert 'if x.device.type == "neuron":\n        x = x.float()' in ported
    assert "self.is_cuda = flag" in ported and "if self.is_cuda:" in ported
    module = run(ported)
    x = torch.arange(3.0)
    assert torch.equal(module["scale"](x), x * 2)  # the CPU path, as in the original
    with pytest.raises(AssertionError):
        module["checked"](x)  # a CPU tensor is no CUDA tensor, as before
    assert module["use_fused"](True, "neuron") is False  # no fused CUDA kernel asked for on Neuron
    assert module["Options"](True).describe() == "gpu"


# -- 6. a rewritten availability check never lets CUDA-only code run on Neuron -------------------

AVAILABILITY = '''
import torch

name = "cpu"
if torch.cuda.is_available():
    name = torch.cuda.get_device_properties(0).name
use_mps = torch.backends.mps.is_available() and not torch.cuda.is_available()
device = "cuda" if torch.cuda.is_available() else "cpu"
'''


def test_availability_checks_keep_guarding_cuda_only_code(monkeypatch):
    ported, _ = port(AVAILABILITY)
    assert "if torch.cuda.is_available():\n    # porter: NRN128" in ported
    assert "use_mps = torch.backends.mps.is_available() and not torch.cuda.is_available()" in ported
    assert 'device = str(_porter_device()) if torch.accelerator.is_available() else "cpu"' in ported
    module = run(ported)
    assert module["name"] == "cpu" and module["use_mps"] is False and module["device"] == "cpu"
    # On an Apple machine torch.accelerator is MPS: the check must still say "MPS, not CUDA".
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    assert run(ported)["use_mps"] is True


EARLY_EXIT = '''
import torch


def gpu_name(use_flash=True):
    if not torch.cuda.is_available() or not use_flash:
        return None
    return torch.cuda.get_device_properties(0).name


def backend():
    if not torch.cuda.is_available():
        kind = "cpu"
    else:
        kind = torch.cuda.get_device_properties(0).name
    return kind
'''


def test_a_check_that_exits_early_or_has_an_else_still_guards_the_cuda_only_code(monkeypatch):
    ported, _ = port(EARLY_EXIT)
    assert "torch.accelerator.is_available" not in ported  # both tests keep their CUDA meaning
    assert ported.count("if not torch.cuda.is_available()") == 2
    module = run(ported)
    assert module["gpu_name"]() is None and module["backend"]() == "cpu"
    # On a Neuron host torch.accelerator is available; the CUDA-only code must still not run.
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    module = run(ported)
    assert module["gpu_name"]() is None and module["backend"]() == "cpu"


# -- 1. a keyword fix rewrites the call it belongs to, and keeps the user's index -----------------

FSDP_SITES = '''
import os

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("TEST_PORT", "29531"), RANK="0", WORLD_SIZE="1")
dist.init_process_group("gloo")
rank = 0
current = FSDP(torch.nn.Linear(4, 2), device_id=torch.cuda.current_device())
indexed = FSDP(torch.nn.Linear(4, 2), device_id=rank)
print(tuple(current(torch.ones(3, 4)).shape), tuple(indexed(torch.ones(3, 4)).shape))
dist.destroy_process_group()
'''


def test_fsdp_device_id_keeps_its_index_and_runs(tmp_path):
    ported, _ = port(FSDP_SITES)
    assert "current = FSDP(torch.nn.Linear(4, 2), device_id=_porter_device())" in ported
    assert "indexed = FSDP(torch.nn.Linear(4, 2), device_id=_porter_device(rank))" in ported
    script = tmp_path / "fsdp_ported.py"
    script.write_text(ported)
    env = {**os.environ, "TEST_PORT": str(29500 + os.getpid() % 400)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 2) (3, 2)"


def test_a_keyword_fix_never_lands_in_the_call_that_computes_the_value():
    ported, _ = port("import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
                     "m = DDP(model, device_ids=[rank], output_device=torch.cuda.current_device())\n"
                     "c = torch.compile(model, mode=pick_mode())\n")
    assert "m = DDP(model)" in ported
    assert "pick_mode()" in ported and "pick_mode(backend" not in ported


# -- 2. the user's device choice stays theirs: only the CUDA arm becomes the device --------------

DEVICE_CHOICES = '''
import torch

def pick(use_cuda, use_gpu, num_gpus, backend):
    a = torch.device("cuda" if use_cuda else "cpu")
    b = "cuda" if use_gpu else "cpu"
    c = torch.device("cuda" if num_gpus > 0 else "cpu")
    d = torch.device("cuda" if backend == "gpu" else "cpu")
    e = torch.zeros(1, device="cuda" if use_gpu else "cpu").device
    f = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return a, b, c, d, e, f
'''


def test_the_users_device_choice_is_kept():
    ported, _ = port(DEVICE_CHOICES)
    assert 'a = torch.device(_porter_device() if use_cuda else "cpu")' in ported
    assert 'b = str(_porter_device()) if use_gpu else "cpu"' in ported
    assert 'c = torch.device(_porter_device() if num_gpus > 0 else "cpu")' in ported
    assert 'd = torch.device(_porter_device() if backend == "gpu" else "cpu")' in ported
    assert "f = _porter_device()" in ported
    pick = run(ported)["pick"]
    cpu = torch.device("cpu")
    assert pick(False, False, 0, "cpu") == (cpu, "cpu", cpu, cpu, cpu, cpu)  # asked for the CPU: the CPU
    assert pick(True, True, 2, "gpu") == (cpu, "cpu", cpu, cpu, cpu, cpu)  # asked for the accelerator: none here


# -- 3. the user's expressions stay; numerics changes are unsafe fixes ----------------------------

AMP_STEP = '''
import torch

torch.manual_seed(0)
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
dtype = "float16"
autocast_dtype = torch.float16
scaler = torch.cuda.amp.GradScaler(enabled=(dtype == "float16"))
plain = torch.cuda.amp.GradScaler()
losses = []
for step in range(3):
    with torch.cuda.amp.autocast(dtype=autocast_dtype):
        loss = model(torch.ones(4, 8)).pow(2).mean()
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    losses.append(loss.item())
'''


def test_amp_keeps_the_users_dtype_and_scaler_and_runs_as_the_original_on_cpu():
    ported, changes = port(AMP_STEP)
    assert "torch.amp.GradScaler(_porter_device().type, enabled=(dtype == \"float16\"))" in ported
    assert "dtype=autocast_dtype" in ported and "bfloat16" not in ported
    assert "plain = torch.amp.GradScaler(_porter_device().type)" in ported
    assert "# porter: NRN211" in ported  # disabling loss scaling is left to --unsafe-fixes, and marked
    with pytest.warns(Warning):  # the CUDA spellings warn (deprecated, no CUDA here); the port does not
        original = run(AMP_STEP)["losses"]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(ported)["losses"] == original  # fp32 on a CPU, as the CUDA autocast gave there
    unsafe, _ = port(AMP_STEP, unsafe=True)
    assert "plain = torch.amp.GradScaler(_porter_device().type, enabled=False)" in unsafe
    assert "dtype=autocast_dtype" in unsafe  # the user's own dtype expression stays even then


def test_compile_keeps_a_backend_and_mode_held_in_variables():
    ported, _ = port("import torch\nbackend, mode = 'eager', None\n"
                     "f = torch.compile(lambda x: x + 1, backend=backend, mode=mode)\n")
    assert "torch.compile(lambda x: x + 1, backend=backend, mode=mode)" in ported
    assert "# porter: NRN501" in ported
    assert run(ported)["f"](torch.ones(1)).item() == 2.0


# -- 5. the current device index is never an index that does not exist ---------------------------

def test_current_device_index_is_none_without_an_accelerator():
    ported, _ = port("import torch\nidx = torch.cuda.current_device()\nx = torch.zeros(2, device=idx)\n"
                     "y = torch.zeros(2).cuda(torch.cuda.current_device())\n")
    assert "else None)" in ported
    module = run(ported)
    assert module["idx"] is None and module["x"].device.type == "cpu" and module["y"].device.type == "cpu"


# -- 11. an unsafe fix that is not applied is marked in the code ----------------------------------

def test_an_unsafe_fix_not_applied_is_marked_where_it_would_go():
    ported, changes = port("import torch\nmodel = torch.nn.Linear(2, 2).half()\n")
    assert "# porter: NRN206" in ported and "--unsafe-fixes" in ported
    assert [c.action for c in changes if c.rule_id == "NRN206"] == ["unsafe-skipped"]
    assert run(ported)["model"].weight.dtype == torch.float16  # unchanged code, unchanged numerics
    applied, _ = port("import torch\nmodel = torch.nn.Linear(2, 2).half()\n", unsafe=True)
    assert "# porter: NRN206" not in applied and run(applied)["model"].weight.dtype == torch.bfloat16


# -- 8. a package's own imports are never guarded -------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


KERNEL_PACKAGE = {
    "pyproject.toml": "",
    "flash_attn/__init__.py": "from flash_attn.flash_attn_interface import flash_attn_func\n",
    "flash_attn/utils/__init__.py": "",
    "flash_attn/utils/shapes.py": "def check_shape(x):\n    return x.dim() == 4\n",
    "flash_attn/flash_attn_interface.py": (
        "import torch\n"
        "import flash_attn_2_cuda as flash_attn_gpu\n"
        "from flash_attn.utils.shapes import check_shape\n"
        "from .utils import shapes\n\n\n"
        "def flash_attn_func(q, k, v):\n"
        "    assert check_shape(q) and shapes.check_shape(k)\n"
        "    return flash_attn_gpu.fwd(q, k, v)\n"),
}


def test_porting_the_package_that_provides_the_kernels_keeps_its_own_imports(tmp_path, monkeypatch):
    from porter.config import Overrides
    from porter.rewrite.tree_port import PortOptions, port_tree

    _write(tmp_path / "src", KERNEL_PACKAGE)
    result = port_tree(tmp_path / "src", PortOptions(target="neuron", out=tmp_path / "out"), Overrides())
    assert not result.problems, result.problems
    interface = (tmp_path / "out" / "flash_attn" / "flash_attn_interface.py").read_text()
    assert "\nfrom flash_attn.utils.shapes import check_shape\n" in interface  # not wrapped, not marked
    assert "\nfrom .utils import shapes\n" in interface
    assert "    import flash_attn_2_cuda as flash_attn_gpu\nexcept ImportError:" in interface  # its extension is
    assert (tmp_path / "out" / "flash_attn" / "__init__.py").read_text() == KERNEL_PACKAGE["flash_attn/__init__.py"]
    monkeypatch.syspath_prepend(str(tmp_path / "out"))
    for name in [m for m in sys.modules if m == "flash_attn" or m.startswith("flash_attn.")]:
        monkeypatch.delitem(sys.modules, name)
    try:
        import flash_attn  # the ported package imports without its CUDA extension

        q = torch.zeros(1, 2, 2, 4)
        with pytest.raises(ImportError, match="flash_attn_2_cuda"):
            flash_attn.flash_attn_func(q, q, q)
    finally:  # this test's flash_attn must not be what later tests' `import flash_attn` finds
        for name in [m for m in sys.modules if m == "flash_attn" or m.startswith("flash_attn.")]:
            del sys.modules[name]


# -- 9. extension modules that well-known packages build are guarded like the project's own -------

EXTENSIONS = '''
import torch
import rotary_emb
import dropout_layer_norm
import xentropy_cuda_lib as xentropy
import amp_C, fused_layer_norm_cuda
from selective_scan_cuda import fwd
from causal_conv1d_cuda import causal_conv1d_fwd


def rotate(x):
    return rotary_emb.apply_rotary(x)
'''


def test_catalogued_extension_modules_are_found_guarded_and_marked():
    from porter.source.engine import analyse_source

    found = {f.matched for f in analyse_source(EXTENSIONS, "model.py", _index("neuron")) if f.rule_id == "NRN408"}
    assert found == {"rotary_emb", "dropout_layer_norm", "xentropy_cuda_lib", "amp_C", "fused_layer_norm_cuda",
                     "selective_scan_cuda.fwd", "causal_conv1d_cuda.causal_conv1d_fwd"}
    ported, _ = port(EXTENSIONS)
    assert ported.count("except ImportError:") == 6 and ported.count("# porter: NRN408") == 6
    module = run(ported)  # imports on a machine without any of them
    with pytest.raises(ImportError, match=r"rotary_emb\.apply_rotary needs 'rotary_emb'.*NRN408"):
        module["rotate"](torch.zeros(2))


# -- 10. a file that imports torch lazily or under a condition gets no module-level import ---------

LAZY_TORCH = '''
try:
    import torch
except ImportError:
    torch = None


def to_device(x):
    return x.cuda()


def train(x):
    import torch as T
    if T.cuda.is_available():
        x = x.cuda()
    return x
'''


def test_no_module_level_torch_import_is_added_to_a_file_that_imports_torch_conditionally(monkeypatch):
    ported, _ = port(LAZY_TORCH)
    assert ported.count("\nimport torch") == 0  # no module-level import of porter's own
    assert "    import torch as T\n    if T.accelerator.is_available():" in ported
    assert "\n    import torch  # not imported at the top of this file\n" in ported
    module = run(ported)
    assert module["to_device"](torch.ones(1)).device.type == "cpu"
    monkeypatch.setitem(sys.modules, "torch", None)  # a machine without torch: the module still imports
    assert run(ported)["torch"] is None


# -- `with torch.cuda.device(idx):` runs on Neuron and on a CPU ------------------------------------

DEVICE_CONTEXT = '''
import torch


def run(x, idx):
    with torch.cuda.device(idx):
        return x + 1


def on_its_device(x):
    with torch.cuda.device(x.device):
        return x * 2
'''


def test_cuda_device_context_becomes_the_accelerator_device_index():
    ported, _ = port(DEVICE_CONTEXT)
    assert "with torch.accelerator.device_index(_porter_device(idx).index):" in ported
    module = run(ported)
    assert module["run"](torch.ones(1), 0).item() == 2.0 and module["on_its_device"](torch.ones(1)).item() == 2.0


# -- 12. idempotence: a second port adds nothing, over every snippet of this file -------------------

FLASH_GUARDED = '''
import torch
from flash_attn import flash_attn_varlen_qkvpacked_func, flash_attn_with_kvcache, flash_attn_kvpacked_func
from flash_attn.bert_padding import unpad_input, pad_input

if flash_attn_varlen_qkvpacked_func is None:
    print("no flash")
if flash_attn_with_kvcache is None and flash_attn_kvpacked_func is None:
    print("no flash")


def attn(q, k, v):
    if flash_attn_with_kvcache is None:
        return unpad_input(q)
    return flash_attn_with_kvcache(q, k, v)
'''

FLASH_IN_USER_GUARD = '''
try:
    from flash_attn import flash_attn_func, flash_attn_with_kvcache
    from flash_attn.bert_padding import unpad_input, pad_input
    from flash_attn.ops.rms_norm import rms_norm
except ImportError:
    flash_attn_func = flash_attn_with_kvcache = unpad_input = pad_input = rms_norm = None

if flash_attn_func is None:
    print("no flash")
if flash_attn_with_kvcache is None or unpad_input is None:
    print("partial")
'''

ALL_SNIPPETS = [FLASH_IN_USER_GUARD,
                TRITON_META, GATED_TESTS, AVAILABILITY, FSDP_SITES, DEVICE_CHOICES, AMP_STEP, EXTENSIONS, LAZY_TORCH,
                DEVICE_CONTEXT, FLASH_GUARDED, KERNEL_PACKAGE["flash_attn/flash_attn_interface.py"]]


@pytest.mark.parametrize("unsafe", [False, True])
@pytest.mark.parametrize("target", ["neuron", "portable", "xla"])
@pytest.mark.parametrize("snippet", range(len(ALL_SNIPPETS)))
def test_a_second_port_adds_nothing(snippet, target, unsafe):
    first, _ = port(ALL_SNIPPETS[snippet], target, unsafe)
    second, _ = port(first, target, unsafe)
    assert second == first


# -- the same ported code on the emulated Neuron device (porter.emulate) ---------------------------

@pytest.fixture
def neuron_device():
    """A Neuron device emulated on the CPU (porter.emulate.neuron)."""
    emulate = pytest.importorskip("porter.emulate")
    with emulate.neuron():
        yield torch.device("neuron", 0)


def test_ported_code_means_the_same_on_the_emulated_neuron_device(neuron_device, no_triton):
    assert torch.accelerator.current_accelerator().type == "neuron"
    pick = run(port(DEVICE_CHOICES)[0])["pick"]
    chosen = pick(True, True, 2, "gpu")  # asked for the accelerator: Neuron
    assert [getattr(d, "type", d) for d in chosen] == ["neuron"] * 6
    asked_cpu = pick(False, False, 0, "cpu")  # asked for the CPU: still the CPU on a Neuron host
    assert [getattr(d, "type", d) for d in asked_cpu[:5]] == ["cpu"] * 5
    x = torch.ones(2, device=neuron_device)
    context = run(port(DEVICE_CONTEXT)[0])
    assert context["run"](x, 0).device.type == "neuron" and context["on_its_device"](x).device.type == "neuron"
    current = run(port("import torch\nidx = torch.cuda.current_device()\nx = torch.zeros(2, device=idx)\n")[0])
    assert current["idx"] == 0 and current["x"].device.type == "neuron"
    fsdp_index = run(port("import torch\nfrom torch.distributed.fsdp import FullyShardedDataParallel as FSDP\n"
                          "rank = 0\ndef wrap(m):\n    return FSDP(m, device_id=rank)\n")[0])
    assert fsdp_index["_porter_device"](0) == neuron_device  # what device_id=_porter_device(rank) hands FSDP
    gated = run(port(GATED_TESTS)[0])
    assert torch.equal(gated["scale"](x).cpu(), torch.full((2,), 2.0))  # Neuron tensors never reach Triton
    assert gated["on_accelerator"](x.to(torch.bfloat16)).dtype == torch.float32  # "which device" rewritten
    with pytest.raises(AssertionError):
        gated["checked"](x)  # as in the original: a Neuron tensor is no CUDA tensor


def test_amp_step_runs_in_the_users_fp16_with_loss_scaling_on_the_emulated_neuron_device():
    code = AMP_STEP.replace("torch.nn.Linear(8, 1)", "torch.nn.Linear(8, 1).cuda()").replace(
        "torch.ones(4, 8)", "torch.ones(4, 8).cuda()")
    ported, _ = port(code)
    cpu_losses = run(ported)["losses"]  # fp32 on a CPU, as the original there
    emulate = pytest.importorskip("porter.emulate")
    with emulate.neuron():
        module = run(ported)
    assert module["scaler"].is_enabled() and str(module["model"].weight.device) == "neuron:0"
    assert module["losses"] != cpu_losses  # autocast is on: fp16 matmuls on the device
    assert module["losses"] == pytest.approx(cpu_losses, rel=1e-2)


def test_a_device_test_passed_to_a_call_is_rewritten_in_place():
    # the value passed on is what is replaced, not the call it is passed to (it was marked instead)
    code = "import torch\n\n\ndef report(x, seen):\n    seen.append(x.is_cuda)\n    return dict(on_device=x.is_cuda)\n"
    ported, changes = port(code)
    assert '    seen.append(x.device.type == "neuron")\n' in ported
    assert '    return dict(on_device=x.device.type == "neuron")\n' in ported
    assert [c.action for c in changes] == ["fixed", "fixed"]
    seen: list = []
    assert run(ported)["report"](torch.ones(1), seen) == {"on_device": False} and seen == [False]


# -- a guarded call under an `if` that tests its guard already ------------------------------------

GUARDED = Path(__file__).resolve().parents[1] / "fixtures" / "port" / "narrow" / "guarded_calls.py"


@pytest.mark.parametrize("target", ["neuron", "portable"])
def test_a_guarded_call_under_the_accelerator_test_is_not_guarded_again(target):
    ported, _ = port(GUARDED.read_text(), target)
    setup = ported[ported.index("def setup"):ported.index("def step")]
    # in the `if` body: the calls alone; in its `else`: guarded (that branch runs without an accelerator)
    assert ("    if torch.accelerator.is_available():\n        torch.accelerator.set_device_index(rank)\n"
            "        torch.accelerator.synchronize()\n"
            "        index = torch.accelerator.current_device_index()\n") in setup
    assert ("    else:\n        if torch.accelerator.is_available():\n"
            "            torch.accelerator.synchronize()\n") in setup
    step = ported[ported.index("def step"):]
    assert "rank == 0:\n        torch.accelerator.synchronize()\n" in step  # one side of an `and`
    assert "if not torch.accelerator.is_available():\n        if torch.accelerator.is_available():\n" in step
    assert step.count("if torch.accelerator.is_available():\n") == 2  # under `if not`, and the bare call
    namespace = run(ported)
    assert namespace["setup"](0) is None  # on this CPU: the `else` branch, whose guarded call is skipped
    assert namespace["step"](lambda b: b * 2, torch.ones(2), 0).tolist() == [2.0, 2.0]


def test_the_xla_target_keeps_the_guard_where_its_test_is_another():
    ported, _ = port(GUARDED.read_text(), "xla")
    # `torch.cuda.is_available()` becomes a test of the XLA device, which says nothing of torch.accelerator
    assert '    if _porter_device().type == "xla":\n        if torch.accelerator.is_available():\n' in ported
