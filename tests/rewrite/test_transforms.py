"""Each fix kind of the shipped catalogue, on small snippets: what it writes, per target, and where
it must leave a marker instead of guessing."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import libcst as cst
import pytest

from porter.config import Overrides, Settings
from porter.rewrite import fileio
from porter.rewrite.file_port import port_source
from porter.rewrite.import_split import split_swap_import
from porter.rewrite.positions import Positions
from porter.rewrite.sites import SiteIndex
from porter.rewrite.transforms import code_of
from porter.rewrite.tree_port import PortOptions, port_tree
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.extensions import extension_modules_in
from porter.source.findings import Finding
from porter.source.selection import select_rules

CATALOGUE = load_catalogue()


def port(code: str, target: str = "neuron", unsafe: bool = False, extend: tuple[str, ...] = (),
         extensions: frozenset[str] = frozenset(), path: str = "snippet.py") -> str:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target, extend_select=extend))
             if r.matchers]
    result = port_source(code, path, RuleIndex.build(rules), CATALOGUE, target, unsafe, extensions)
    assert result.error is None, result.error
    compile(result.ported, "ported.py", "exec")
    again = port_source(result.ported, path, RuleIndex.build(rules), CATALOGUE, target, unsafe, extensions)
    assert again.ported == result.ported, "a second port must change nothing"
    return result.ported


def test_device_keeps_the_index_and_non_blocking():
    out = port("import torch\ny = x.cuda(rank, non_blocking=True)\n", extend=())
    assert "y = x.to(_porter_device(rank))" in out  # non_blocking dropped by NRN603 on neuron
    out = port("import torch\ny = x.cuda(rank, non_blocking=True)\n", target="portable")
    assert "y = x.to(_porter_device(rank), non_blocking=True)" in out


def test_torch_device_with_an_index_becomes_one_helper_call():
    assert "d = _porter_device(rank)" in port('import torch\nd = torch.device("cuda", rank)\n')


def test_the_files_own_torch_alias_is_used():
    out = port("import torch as T\nif T.cuda.is_available():\n    T.cuda.synchronize()\n")
    assert "if T.accelerator.is_available():" in out
    assert "T.accelerator.synchronize()" in out
    assert "\nimport torch\n" not in out


def test_device_type_comparison_per_target():
    code = 'import torch\nuse_amp = device.type == "cuda"\n'
    assert 'device.type == "neuron"' in port(code)
    assert 'device.type == "xla"' in port(code, target="xla")
    assert "# porter: NRN107" in port(code, target="portable")


def test_autocast_gets_the_device_type_and_keeps_its_dtype():
    out = port('import torch\nwith torch.autocast("cuda", dtype=torch.float16, enabled=amp):\n    pass\n')
    on_device = '_porter_device().type != "cpu"'
    assert f"torch.autocast(_porter_device().type, dtype=torch.float16, enabled=amp and {on_device})" in out
    assert "# porter: NRN207" in out  # bf16 is an unsafe fix
    out = port('import torch\nwith torch.autocast("cuda", dtype=torch.float16, enabled=amp):\n    pass\n', unsafe=True)
    assert f"torch.autocast(_porter_device().type, dtype=torch.bfloat16, enabled=amp and {on_device})" in out
    out = port("from torch.cuda.amp import autocast\nwith autocast(enabled=amp):\n    pass\n", target="portable")
    assert f"torch.autocast(_porter_device().type, enabled=amp and {on_device}, dtype=torch.float16)" in out
    assert "from torch.cuda.amp" not in out


def test_grad_scaler_keeps_its_arguments_and_is_disabled_only_as_an_unsafe_fix():
    code = "from torch.cuda.amp import GradScaler\nscaler = GradScaler(init_scale=1024)\n"
    assert "scaler = torch.amp.GradScaler(_porter_device().type, init_scale=1024)" in port(code)
    assert ("scaler = torch.amp.GradScaler(_porter_device().type, init_scale=1024, enabled=False)"
            in port(code, unsafe=True))


def test_statement_replaces_a_legacy_default_tensor_type():
    out = port("import torch\ntorch.set_default_tensor_type(torch.cuda.HalfTensor)\n")
    assert "torch.set_default_dtype(torch.float16)\ntorch.set_default_device(_porter_device())" in out


def test_remove_leaves_pass_in_an_emptied_block():
    out = port("import torch\nif fast:\n    torch.backends.cudnn.benchmark = True\nx = 1\n")
    assert "if fast:\n    pass\nx = 1" in out
    assert "cudnn" not in port("import torch\ntorch.backends.cudnn.benchmark = True\nx = 1\n")


def test_guarded_call_as_statement_and_as_expression():
    out = port("import torch\ntorch.cuda.empty_cache()\nused = torch.cuda.memory_allocated() / 2**20\n")
    assert "if torch.accelerator.is_available():\n    torch.accelerator.empty_cache()" in out
    assert "(torch.accelerator.memory_allocated() if torch.accelerator.is_available() else 0) / 2**20" in out


def test_keywords_set_and_drop():
    out = port('import torch\nm = torch.compile(model, mode="max-autotune", fullgraph=True)\n')
    assert 'torch.compile(model, fullgraph=True, backend=("neuron" if _porter_device().type == "neuron"' in out
    out = port("from torch.nn.parallel import DistributedDataParallel as DDP\nm = DDP(m, device_ids=[r], "
               "output_device=r)\n")
    assert "m = DDP(m)" in out


def test_nccl_backend_per_target():
    code = 'import torch.distributed as dist\ndist.init_process_group(backend="nccl")\n'
    assert 'backend=("neuron" if _porter_device().type == "neuron" else "gloo")' in port(code)
    assert "backend=torch.distributed.get_default_backend_for_device(_porter_device())" in port(code, "portable")
    xla = port(code, "xla")
    assert "backend=_porter_process_group_backend()" in xla and "def _porter_process_group_backend" in xla


def test_unsafe_fixes_only_when_asked():
    code = "import torch\nmodel = model.half()\n"
    assert "model.half()" in port(code)
    assert "model = model.to(torch.bfloat16)" in port(code, unsafe=True)


def test_guard_import_and_marker_for_a_package_without_a_drop_in():
    out = port("import triton\n\n@triton.jit\ndef kernel(x):\n    pass\n")
    assert "try:\n    import triton\nexcept ImportError:" in out
    assert 'triton = _PorterMissing("triton", "NRN406")' in out
    assert out.count("# porter: NRN406") == 2  # the import and the kernel


TRITON_MODULE = """import triton
import triton.language as tl
from flash_attn.bert_padding import unpad_input
import bitsandbytes as bnb


@triton.autotune(configs=[triton.Config({"BLOCK": 64}, num_warps=4)], key=["n"])
@triton.jit
def add_kernel(x_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)


CONFIGS = [triton.Config({"BLOCK": b}) for b in (32, 64)]


class QLinear(bnb.nn.Linear8bitLt):
    pass


def launch(x):
    add_kernel[(1,)](x, 4, BLOCK=4)
"""


def _without(monkeypatch, *packages):
    for name in packages:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError


def test_guarded_package_imports_without_its_cuda_packages_and_fails_only_when_called(monkeypatch):
    out = port(TRITON_MODULE)
    assert out.count("class _PorterMissing") == 1
    assert 'tl = _PorterMissing("triton.language", "NRN406")' in out
    assert 'unpad_input = _PorterMissing("flash_attn.bert_padding.unpad_input", "NRN401")' in out
    _without(monkeypatch, "triton", "triton.language", "flash_attn", "flash_attn.bert_padding", "bitsandbytes")
    namespace: dict = {"__name__": "ported"}
    exec(compile(out, "ported.py", "exec"), namespace)  # module-level decorators, configs, annotations
    assert not namespace["triton"] and not namespace["unpad_input"]  # falsy: `if triton:` picks a fallback
    with pytest.raises(ImportError, match=r"add_kernel needs 'triton'.*NRN406"):
        namespace["launch"](None)
    with pytest.raises(ImportError, match=r"bitsandbytes.nn.Linear8bitLt needs 'bitsandbytes'.*NRN404"):
        namespace["QLinear"](4, 4)
    with pytest.raises(ImportError, match=r"flash_attn.bert_padding.unpad_input needs 'flash_attn'.*NRN401"):
        (lambda: namespace["unpad_input"](1, 2))()


def test_guard_uses_the_real_package_when_it_is_installed(monkeypatch):
    fake = types.ModuleType("bitsandbytes")
    fake.VERSION = "fake"
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    namespace: dict = {}
    exec(compile(port("import bitsandbytes as bnb\nversion = bnb.VERSION\n"), "ported.py", "exec"), namespace)
    assert namespace["bnb"] is fake and namespace["version"] == "fake"


def test_imports_in_a_module_level_if_are_guarded_and_marked(monkeypatch):
    out = port('import os\nif os.environ.get("FAST"):\n    import triton\n    import bitsandbytes as bnb\n'
               'else:\n    bnb = None\n')
    assert "    try:\n        import triton\n    except ImportError:" in out
    assert '        bnb = _PorterMissing("bitsandbytes", "NRN404")' in out
    assert "    # porter: NRN406" in out and "    # porter: NRN404" in out
    _without(monkeypatch, "triton", "bitsandbytes")
    monkeypatch.setenv("FAST", "1")
    exec(compile(out, "ported.py", "exec"), {})


def test_an_import_inside_a_function_is_marked_not_counted_as_fixed():
    code = "def quantise(m):\n    import bitsandbytes as bnb\n    return bnb\n"
    out = port(code)
    assert "    # porter: NRN404" in out and "try:" not in out
    result = port_source(code, "snippet.py", RuleIndex.build([r for r in CATALOGUE.rules.values() if r.matchers]),
                         CATALOGUE, "neuron")
    assert [c.action for c in result.changes if c.rule_id == "NRN404"][0] == "marked"


def test_swap_import_keeps_names_and_splits_partial_imports():
    out = port("from flash_attn import flash_attn_func as attn\ny = attn(q, k, v, causal=True)\n")
    assert "from porter.kernels.compat.flash_attn import flash_attn_func as attn" in out
    out = port("from flash_attn import flash_attn_func, flash_attn_with_kvcache\n")
    assert out.startswith("from porter.kernels.compat.flash_attn import flash_attn_func\n")
    assert "try:\n    from flash_attn import flash_attn_with_kvcache\nexcept ImportError:" in out
    assert "# porter: NRN411" not in out and "flash_attn_func = " not in out
    assert "(not swapped: flash_attn.flash_attn_with_kvcache; the other names come from porter.kernels.compat)" in out


def test_split_swap_import_keeps_layout_and_says_why_names_stay():
    swappable = {"flash_attn.flash_attn_func": "porter.kernels.compat", "xformers.ops": "porter.kernels.compat"}
    line = cst.parse_statement("from flash_attn import (\n    flash_attn_with_kvcache,\n    flash_attn_func,\n)  # c\n")
    split = split_swap_import(line, swappable)
    assert code_of(split.swapped) == "from porter.kernels.compat.flash_attn import (\n    flash_attn_func,\n)  # c\n"
    assert code_of(split.rest).startswith("from flash_attn import (\n    flash_attn_with_kvcache,")
    assert split.done == {"flash_attn.flash_attn_func": "porter.kernels.compat.flash_attn.flash_attn_func"}
    assert split.kept == {
        "flash_attn.flash_attn_with_kvcache": "porter has no drop-in for flash_attn.flash_attn_with_kvcache"}
    line = cst.parse_statement("import xformers.ops as xops, triton; import xformers.ops\n")
    split = split_swap_import(line, swappable)
    assert code_of(split.swapped) == "import porter.kernels.compat.xformers.ops as xops\n"
    assert code_of(split.rest) == "import triton; import xformers.ops\n"
    assert split.kept == {"triton": "porter has no drop-in for module triton",
                          "xformers.ops": "`import xformers.ops` without an alias: use `import xformers.ops as ...`"}
    split = split_swap_import(cst.parse_statement("from flash_attn import *\n"), swappable)
    assert split.swapped is None
    assert split.kept == {"flash_attn": "`from flash_attn import *` cannot be swapped name by name"}


def test_a_swap_site_with_an_unsupported_argument_is_marked():
    out = port("from flash_attn import flash_attn_func\ny = flash_attn_func(q, k, v, window_size=(8, 0))\n")
    assert "# porter: NRN415 window_size=(8, 0) is not supported by porter's attention" in out


def test_flash_attn_defaults_are_not_marked_and_non_literals_are():
    code = ("from flash_attn import flash_attn_func\n"
            "y = flash_attn_func(q, k, v, causal=True, window_size=(-1, -1), alibi_slopes=None, "
            "return_attn_probs=False, dropout_p=0.0, softcap=0)\n")
    assert "# porter:" not in port(code)
    out = port("from flash_attn import flash_attn_func\ny = flash_attn_func(q, k, v, alibi_slopes=slopes)\n")
    assert "# porter: NRN415 alibi_slopes=slopes is not supported" in out
    assert "a value that is not a literal cannot be checked here" in out


def test_a_parenthesised_tuple_argument_is_located():
    source = "y = f(q, window_size=(256, 0))\n"
    index = SiteIndex(Positions(cst.parse_module(source)))
    # lint's (ast's) range of the tuple includes its parentheses: columns 22-30 (1-based, end exclusive)
    node = index.locate(Finding("s.py", 1, 22, "NRN415", "", 1, 30))
    assert isinstance(node, cst.Tuple) and code_of(node) == "(256, 0)"


def test_sdpa_swap_is_opt_in():
    code = "import torch.nn.functional as F\ny = F.scaled_dot_product_attention(q, k, v)\n"
    assert port(code) == code
    out = port(code, extend=("NRN416",))
    assert "import porter.kernels.compat.sdpa" in out
    assert "porter.kernels.compat.sdpa.scaled_dot_product_attention(q, k, v)" in out


def test_xla_optimizer_step_keeps_closures_marked():
    out = port("optimizer.step()\nopt.step(closure)\nscheduler.step()\n", target="xla")
    assert "_porter_optimizer_step(optimizer)" in out
    assert "opt.step(closure)" in out and "# porter: NRN505" in out
    assert "scheduler.step()" in out


def test_device_agnostic_code_is_left_alone():
    code = ("import torch\ndevice = torch.accelerator.current_accelerator() or torch.device('cpu')\n"
            "x = torch.zeros(3, device=device)\ny = x.to(other.device)\nprint('runs on cuda too')\n")
    for target in ("neuron", "portable"):
        assert port(code, target) == code


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "a.py"
    target.write_text("old\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        fileio.atomic_write(target, b"new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


def test_apex_amp_is_swapped_without_markers():
    # the compat amp runs the forward under bf16 autocast, so nothing is left for a person to do
    out = port('from apex import amp\nfrom apex.amp import scale_loss, master_params\n'
               'model, opt = amp.initialize(model, opt, opt_level="O1")\n')
    assert "from porter.kernels.compat.apex import amp" in out
    assert "from porter.kernels.compat.apex.amp import scale_loss, master_params" in out
    assert "# porter:" not in out


def _fake_torch_xla(monkeypatch, n_devices: int):
    """torch_xla as documented: device(index) is a position in this process's devices()."""
    import torch

    xla = types.ModuleType("torch_xla")
    xla.devices = lambda: [torch.device("cpu", i) for i in range(n_devices)]  # stand-ins for xla:i

    def device(index=None):
        if index is None:
            return torch.device("cpu", 0)
        if index >= n_devices:
            raise IndexError(f"Device index {index} out of range")
        return torch.device("cpu", index)

    xla.device = device
    monkeypatch.setitem(sys.modules, "torch_xla", xla)


def test_xla_set_device_is_guarded_and_a_rank_index_picks_the_process_device(monkeypatch):
    pytest.importorskip("torch")
    out = port("import torch\ntorch.cuda.set_device(local_rank)\nd = torch.device('cuda', local_rank)\n",
               target="xla")
    assert "if torch.accelerator.is_available():\n    torch.accelerator.set_device_index(local_rank)" in out
    assert "# porter: NRN122" not in out
    namespace: dict = {"local_rank": 3}
    exec(compile(out, "ported.py", "exec"), namespace)  # no torch_xla, no accelerator: runs on the CPU
    assert namespace["d"].type == "cpu"
    _fake_torch_xla(monkeypatch, n_devices=1)  # torchrun: one device per process
    assert namespace["_porter_device"](3).index == 0  # rank 3 is not an index into this process's devices
    assert namespace["_porter_device"]().index == 0
    _fake_torch_xla(monkeypatch, n_devices=2)
    assert namespace["_porter_device"](1).index == 1  # a valid position is kept


SETUP_PY = """from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

setup(name="mypkg", cmdclass={"build_ext": BuildExtension}, ext_modules=[
    CUDAExtension("fused_ops_cuda", ["csrc/fused.cu"]),
    CppExtension(name="mypkg._C", sources=["csrc/c.cpp"]),
])
"""


def test_extension_module_names_come_from_setup_and_jit_loads():
    assert extension_modules_in(SETUP_PY) == {"fused_ops_cuda", "mypkg._C"}
    jit = 'from torch.utils import cpp_extension\nops = cpp_extension.load(name="jit_ops", sources=["a.cu"])\n'
    assert extension_modules_in(jit) == {"jit_ops"}
    assert extension_modules_in('import json\ndata = json.load(name="x")\n') == set()  # not cpp_extension


def test_imports_of_the_projects_extensions_are_guarded_and_marked(monkeypatch):
    extensions = frozenset({"fused_ops_cuda", "mypkg._C"})
    code = ("import torch\nimport fused_ops_cuda\nfrom . import _C\nfrom mypkg._C import helper\n\n\n"
            "def run(x):\n    return fused_ops_cuda.forward(x)\n\n\n"
            "def lazy():\n    import fused_ops_cuda as f\n    return f\n")
    out = port(code, extensions=extensions, path="src/mypkg/ops.py")
    assert 'fused_ops_cuda = _PorterMissing("fused_ops_cuda", "NRN408")' in out
    assert '_C = _PorterMissing("._C", "NRN408")' in out
    assert 'helper = _PorterMissing("mypkg._C.helper", "NRN408")' in out
    assert out.count("# porter: NRN408") == 4  # three guarded imports, one import inside a function
    assert "    # porter: NRN408" in out and "    import fused_ops_cuda as f\n" in out  # marked, left as is
    assert "(fused_ops_cuda is this project's CUDA extension" in out
    namespace: dict = {"__name__": "mypkg.ops", "__package__": "mypkg"}
    monkeypatch.setitem(sys.modules, "mypkg", types.ModuleType("mypkg"))  # the package, without its _C
    _without(monkeypatch, "fused_ops_cuda", "mypkg._C")
    exec(compile(out, "ported.py", "exec"), namespace)
    with pytest.raises(ImportError, match=r"fused_ops_cuda.forward needs 'fused_ops_cuda'.*NRN408"):
        namespace["run"](1)
    assert port("import fused_ops_cuda_v2\nfrom otherpkg import _C\n", extensions=extensions,
                path="src/mypkg/ops.py") == "import fused_ops_cuda_v2\nfrom otherpkg import _C\n"


def test_port_tree_finds_the_extensions_declared_in_setup_py(tmp_path):
    root = tmp_path / "proj"
    (root / "mypkg").mkdir(parents=True)
    (root / "setup.py").write_text(SETUP_PY)
    (root / "mypkg" / "__init__.py").write_text("import torch\nimport fused_ops_cuda\nfrom mypkg import _C\n")
    out = tmp_path / "out"
    result = port_tree(root, PortOptions(target="neuron", out=out), Overrides(target="neuron"))
    assert not result.problems
    ported = (out / "mypkg" / "__init__.py").read_text()
    assert ported.count("# porter: NRN408") == 2 and "except ImportError:" in ported
    manual = [c for f in result.files if f.path.endswith("__init__.py") for c in f.changes]
    assert [(c.rule_id, c.line, c.action) for c in manual] == [("NRN408", 2, "marked"), ("NRN408", 3, "marked")]


JIT_BUILD = """import torch
from torch.utils.cpp_extension import load

fused = load(name="fused_ops_cuda", sources=["k.cu"])


def run(x):
    return fused.op(x)
"""


def test_a_module_level_jit_build_is_guarded_so_the_module_imports_without_nvcc(monkeypatch, tmp_path):
    out = port(JIT_BUILD)  # port() also checks that a second port changes nothing
    assert ('try:\n    fused = load(name="fused_ops_cuda", sources=["k.cu"])\n'
            'except Exception:  # building a CUDA extension needs nvcc and ninja, absent here\n'
            '    fused = _PorterMissing("fused_ops_cuda", "NRN408")\n') in out
    assert out.count("class _PorterMissing") == 1 and out.index("class _PorterMissing") < out.index("try:")
    marker = next(line for line in out.splitlines() if line.startswith("# porter: NRN408") and "guarded" in line)
    assert "where fused_ops_cuda cannot be built, fused is a stand-in raising ImportError" in marker
    assert out.count("# porter: NRN408") == 2  # the import and the build, each once
    # The real build runs and fails here (no nvcc, no k.cu): the module still imports ...
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    namespace: dict = {"__name__": "ported"}
    exec(compile(out, "ported.py", "exec"), namespace)
    assert not namespace["fused"]
    # ... and the extension's use fails clearly, naming it and the rule.
    with pytest.raises(ImportError, match=r"fused_ops_cuda.op needs 'fused_ops_cuda'.*NRN408"):
        namespace["run"](namespace["torch"].ones(2))


@pytest.mark.parametrize("code", [
    'from torch.utils import cpp_extension\nops: object = cpp_extension.load_inline("jit_ops", cpp_sources=[src])\n',
    'import torch.utils.cpp_extension as ce\nif USE_CUDA:\n    a = b = ce.load(name="jit_ops", sources=["a.cu"])\n',
])
def test_jit_build_guard_covers_aliases_annotations_and_module_level_blocks(code):
    out = port(code)
    assert "except Exception:  # building a CUDA extension" in out
    assert '= _PorterMissing("jit_ops", "NRN408")' in out


@pytest.mark.parametrize("code", [
    # inside a function: it fails only when called, and stays marked
    'from torch.utils.cpp_extension import load\n\n\ndef build():\n    return load(name="x", sources=["a.cu"])\n',
    # the project already catches the build's failure
    'from torch.utils.cpp_extension import load\ntry:\n    ext = load(name="x", sources=["a.cu"])\n'
    'except (OSError, Exception):\n    ext = None\n',
    # not a plain name to bind the stand-in to, or nothing bound at all
    'from torch.utils.cpp_extension import load\nself_ops.ext = load(name="x", sources=["a.cu"])\n',
    'from torch.utils.cpp_extension import load\nload(name="x", sources=["a.cu"], is_python_module=False)\n',
])
def test_other_jit_builds_are_marked_and_not_guarded(code):
    out = port(code)
    assert "except Exception:  # building" not in out and "_PorterMissing" not in out
    assert "# porter: NRN408" in out


def test_the_report_says_the_jit_build_is_guarded_and_still_left_to_do(tmp_path):
    from porter.rewrite.report import build_report

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ops.py").write_text(JIT_BUILD)
    result = port_tree(tmp_path / "src", PortOptions(target="neuron", out=tmp_path / "out"), Overrides(target="neuron"))
    (build,) = [item for item in build_report(result)["manual"] if item["line"] == 4]
    assert build["rule"] == "NRN408" and build["action"] == "marked" and build["effort"] == "high"
    assert "build guarded" in build["detail"] and "fused is a stand-in raising ImportError" in build["detail"]


def test_lint_reports_imports_of_the_projects_extensions(tmp_path):
    from porter.source.runner import lint_paths

    root = tmp_path / "proj"
    (root / "mypkg").mkdir(parents=True)
    (root / "setup.py").write_text(SETUP_PY)
    (root / "mypkg" / "__init__.py").write_text(
        "import torch\nimport fused_ops_cuda\nfrom . import _C  # noqa: NRN408\nimport json\n")
    result = lint_paths([root], use_cache=False)
    hits = [(Path(f.path).name, f.line, f.matched) for f in result.findings
            if f.rule_id == "NRN408" and f.path.endswith("__init__.py")]
    assert hits == [("__init__.py", 2, "fused_ops_cuda")]  # the suppressed `from . import _C` is not shown
    for _ in range(2):  # a cached file still gets the tree-level findings
        cached = lint_paths([root], cache_dir=tmp_path / "cache").findings
        assert [f for f in cached if f.rule_id == "NRN408" and f.path.endswith("__init__.py")] == [
            f for f in result.findings if f.rule_id == "NRN408" and f.path.endswith("__init__.py")]


def test_cuda_only_int4_kernels_are_marked_on_every_target():
    # Packing a weight for CUDA's int4 matmul: moving it to the Neuron device does not give it a kernel.
    code = ("import torch\n\ndef pack(w, device):\n"
            "    return torch.ops.aten._convert_weight_to_int4pack(w.to(device), 8)\n\n"
            "def mm(x, packed, groupsize, sz):\n"
            "    return torch.ops.aten._weight_int4pack_mm.default(x, packed, groupsize, sz)\n")
    for target in ("neuron", "portable", "xla"):
        out = port(code, target=target)
        assert out.count("# porter: NRN410 ") == 2
        assert "torch.ops.aten._convert_weight_to_int4pack(w.to(device), 8)" in out
