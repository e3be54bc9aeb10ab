"""The ported tree is code a team keeps: no import the port left unused (ruff F401)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.rewrite.imports import unused_after_port
from porter.rewrite.requirements import RUNTIME_EXTRA, gained, snippet
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

CATALOGUE = load_catalogue()


def port(code: str, target: str = "neuron", path: str = "snippet.py") -> str:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    result = port_source(code, path, RuleIndex.build(rules), CATALOGUE, target)
    assert result.error is None, result.error
    again = port_source(result.ported, path, RuleIndex.build(rules), CATALOGUE, target)
    assert again.ported == result.ported, "a second port must change nothing"
    return result.ported


def ruff_unused(code: str, tmp_path: Path) -> list[str]:
    """ruff's own F401 verdict on the code (the tool users run on the ported tree)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed here")
    path = tmp_path / "ported.py"
    path.write_text(code)
    out = subprocess.run([ruff, "check", "--isolated", "--select", "F401", "--output-format", "concise", str(path)],
                         capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "F401" in line]


def test_a_submodule_import_whose_uses_were_removed_goes(tmp_path):
    source = "import torch\nimport torch.backends\n\ntorch.backends.cudnn.benchmark = True\nx = torch.ones(2)\n"
    ported = port(source)
    assert "import torch.backends" not in ported and "import torch\n" in ported
    assert ruff_unused(ported, tmp_path) == []


def test_a_from_import_left_unused_by_a_rewritten_call_goes(tmp_path):
    source = ("import torch\nfrom torch.cuda.amp import autocast\n\n"
              "def f(x):\n    with autocast():\n        return x * 2\n")
    ported = port(source)
    assert "from torch.cuda.amp import autocast" not in ported
    assert ruff_unused(ported, tmp_path) == []


def test_an_import_still_used_elsewhere_stays(tmp_path):
    source = ("import torch\nfrom torch.cuda.amp import autocast\n\n"
              "with autocast():\n    pass\nprint(autocast)\n")
    ported = port(source)
    assert "from torch.cuda.amp import autocast" in ported


def test_an_import_the_original_already_left_unused_is_not_touched(tmp_path):
    source = "import os\nimport torch\n\ntorch.cuda.synchronize()\n"
    ported = port(source)
    assert "import os" in ported  # the author's own unused import (maybe a side effect): not ours to drop


def test_a_dotted_import_that_binds_the_top_name_stays_while_the_top_name_is_used():
    original = "import torch.backends\n\ntorch.backends.cudnn.benchmark = True\nx = torch.ones(1)\n"
    ported = "import torch.backends\n\nx = torch.ones(1)\n"
    assert unused_after_port(original, ported) == set()  # it is what makes `torch` a name here


def test_an_import_alone_in_a_block_leaves_pass(tmp_path):
    source = ("import torch\nif True:\n    from torch.cuda.amp import autocast\n"
              "with autocast():\n    y = torch.ones(1)\n")
    ported = port(source)
    compile(ported, "ported.py", "exec")
    assert "from torch.cuda.amp import autocast" not in ported


def test_a_function_import_whose_only_use_there_was_removed_goes(tmp_path):
    # the file reads `torch` elsewhere, but `setup`'s own import has no use left in `setup`
    source = ("import torch\n\nSEED = torch.zeros(1)\n\n\n"
              "def setup():\n    import torch.backends\n    torch.backends.cudnn.benchmark = True\n\n\n"
              "def init():\n    import torch\n    torch.backends.cuda.matmul.allow_tf32 = True\n\n\n"
              "def make():\n    import torch\n    torch.backends.cudnn.benchmark = True\n    return torch.ones(2)\n")
    ported = port(source)
    assert ported.count("import torch") == 2  # the module's, and `make`'s (still read there)
    assert "def setup():\n    pass\n" in ported and "def init():\n    pass\n" in ported
    assert ruff_unused(ported, tmp_path) == []


def test_a_function_import_is_judged_by_the_function_with_the_same_name_and_place():
    # the second `f` of the class lost its use; the first still reads `torch`
    original = ("class A:\n    def f(self):\n        import torch\n        return torch.ones(1)\n\n"
                "    def f(self):\n        import torch\n        torch.cuda.synchronize()\n")
    ported = ("class A:\n    def f(self):\n        import torch\n        return torch.ones(1)\n\n"
              "    def f(self):\n        import torch\n")
    assert [b.scope for b in unused_after_port(original, ported)] == [("A#0", "f#1")]


def test_an_import_of_a_name_declared_global_counts_over_the_file():
    original = "def g():\n    global torch\n    import torch\n    torch.cuda.synchronize()\n\nprint(torch)\n"
    ported = "def g():\n    global torch\n    import torch\n\nprint(torch)\n"
    assert unused_after_port(original, ported) == set()  # it binds the module's `torch`, read below


def test_a_one_line_function_whose_import_went_keeps_a_body():
    original = "def f(): import torch.backends; torch.backends.cudnn.benchmark = True\n"
    ported = port(original.replace("; torch.backends.cudnn.benchmark = True", "; pass"))
    assert "import" in ported  # the author's own: unused in that source too
    dropped = port("def f():\n    import torch.backends\n    torch.backends.cudnn.benchmark = True\n")
    assert dropped == "def f():\n    pass\n"


def test_a_removed_statement_leaves_the_blank_lines_and_comments_above_it():
    # Statements removed whole (Inductor settings, cuDNN switches, imports left unused): the blank
    # lines that set them apart, and a heading set apart by a blank line, stay; the comments right
    # above a removed statement are about it and go with it.
    source = (
        "import os\n"
        "# compiler settings\n"
        "import torch._inductor.config\n"
        "import torch\n\n\n"
        "def sync(x):\n"
        "    return x\n\n\n"
        "torch._inductor.config.coordinate_descent_tuning = True\n"
        "# cache the compiled graphs\n"
        "torch._inductor.config.fx_graph_cache = True\n"
        "torch._dynamo.config.cache_size_limit = 64\n\n"
        "if os.environ.get('FAST'):\n"
        "    torch.backends.cudnn.benchmark = True\n\n"
        "    x = torch.ones(1)\n\n"
        "    # Switches\n\n"
        "    torch.backends.cudnn.deterministic = False\n\n"
        "    torch.backends.cudnn.enabled = True\n\n"
        "    y = x + 1\n\n"
        "# done\n"
        "torch._inductor.config.triton.cudagraphs = True\n")
    assert port(source) == (
        "import os\n"
        "import torch\n\n\n"
        "def sync(x):\n"
        "    return x\n\n\n"
        "torch._dynamo.config.cache_size_limit = 64\n\n"
        "if os.environ.get('FAST'):\n"
        "    x = torch.ones(1)\n\n"
        "    # Switches\n\n"
        "    y = x + 1\n")
    two = "import torch\nif x:\n    # switches\n    torch.backends.cudnn.benchmark = True\n" \
          "    torch.backends.cudnn.deterministic = False\ny = torch.ones(1)\n"
    assert port(two) == "import torch\nif x:\n    pass\ny = torch.ones(1)\n"


def test_a_name_exported_in_dunder_all_is_a_use():
    original = "from torch.cuda.amp import autocast\n__all__ = ['autocast']\n"
    assert unused_after_port(original, original) == set()


# --- the runtime requirements the ported tree gained -------------------------------------------


def test_requirements_name_the_highest_torch_minimum_and_the_runtime_extra():
    pairs = [
        ("a.py", "torch.cuda.synchronize()\n", "torch.accelerator.synchronize()\n"),
        ("b.py", "torch.cuda.set_device(r)\n", "torch.accelerator.set_device_index(r)\n"),
        ("c.py", "from flash_attn import f\n", "from porter.kernels.compat.flash_attn import f\n"),
    ]
    found = {r["requirement"]: r for r in gained(pairs)}
    assert set(found) == {"torch>=2.7", RUNTIME_EXTRA}
    assert found["torch>=2.7"]["file"] == "b.py" and found[RUNTIME_EXTRA]["file"] == "c.py"
    lines = snippet(list(found.values())).splitlines()
    assert [line.split("#")[0].strip() for line in lines] == ["torch>=2.7", RUNTIME_EXTRA]
    assert all("  # " in line for line in lines)


def test_an_api_the_original_already_used_is_not_a_new_requirement():
    original = "torch.accelerator.set_device_index(0)\ntorch.cuda.synchronize()\n"
    ported = "torch.accelerator.set_device_index(0)\ntorch.accelerator.synchronize()\n"
    assert [r["requirement"] for r in gained([("a.py", original, ported)])] == ["torch>=2.6"]
    assert gained([("a.py", original, original)]) == []


@pytest.mark.parametrize("added, expected", [
    ("my_accelerator.synchronize()\n", []),  # a name that ends in the API's is not it
    ("x = myporter.kernels\n", []),
    ("scaler = camp.GradScaler()\n", []),
    ("scaler = torch.amp.GradScaler('neuron')\n", ["torch>=2.3"]),
    ("from porter.kernels import rms_norm\n", [RUNTIME_EXTRA]),
])
def test_requirements_match_whole_names(added, expected):
    assert [r["requirement"] for r in gained([("a.py", "x = 1\n", "x = 1\n" + added)])] == expected


def test_port_summary_and_report_carry_the_snippet(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    tree = tmp_path / "proj"
    tree.mkdir()
    (tree / "train.py").write_text("import torch\n\ntorch.cuda.set_device(0)\nx = torch.ones(2).cuda()\n")
    report = tmp_path / "report.md"
    result = CliRunner().invoke(app, ["port", str(tree), "--out", str(tmp_path / "out"), "--report", str(report),
                                      "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "requirements the ported code added" in result.stdout and "  torch>=2.7  # " in result.stdout
    text = report.read_text()
    assert "## Runtime requirements the port added" in text and "\ntorch>=2.7  # " in text


# --- markers wrap to the project's configured line length ---------------------------------------


STREAMS = ("import torch\n\n\ndef step(x):\n    s = torch.cuda.Stream()\n"
           "    with torch.cuda.stream(s):\n        return x * 2\n")


def _port_tree(tmp_path, config: dict[str, str]) -> str:
    from porter.rewrite.tree_port import PortOptions, port_tree

    tree = tmp_path / "proj"
    tree.mkdir()
    for name, text in config.items():
        (tree / name).write_text(text)
    (tree / "train.py").write_text(STREAMS)
    result = port_tree(tree, PortOptions())
    (port,) = [f for f in result.files if f.path.endswith("train.py")]
    assert port.error is None
    return port.ported


@pytest.mark.parametrize("config", [
    {"ruff.toml": "line-length = 60\n"},
    {"pyproject.toml": "[tool.ruff]\nline-length = 60\n"},
    {"pyproject.toml": "[tool.porter]\nline-length = 60\n\n[tool.ruff]\nline-length = 200\n"},
])
def test_markers_wrap_to_the_configured_line_length(tmp_path, config):
    ported = _port_tree(tmp_path, config)
    markers = [line for line in ported.splitlines() if line.lstrip().startswith("#")]
    assert any("porter: NRN131" in line for line in markers)
    assert len(markers) > 2, "the stream markers are longer than 60 columns: they wrap"
    assert all(len(line) <= 60 for line in ported.splitlines() if line.lstrip().startswith("#"))
    continuation = [line for line in markers if line.lstrip().startswith("#   ")]
    assert continuation, "continuation lines are indented under the marker"
    # a second port recognises the wrapped marker and adds nothing
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target="neuron")) if r.matchers]
    again = port_source(ported, "train.py", RuleIndex.build(rules), CATALOGUE, "neuron", line_length=60)
    assert again.ported == ported


def test_without_a_configured_length_markers_stay_on_one_line(tmp_path):
    ported = _port_tree(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n"})
    assert not [line for line in ported.splitlines() if line.lstrip().startswith("#   ")]
    assert any(len(line) > 100 for line in ported.splitlines() if "porter: NRN131" in line)


def test_the_nearest_configuration_governs(tmp_path):
    from porter.rewrite.linelength import configured_line_length, forget_line_lengths

    (tmp_path / "ruff.toml").write_text("line-length = 100\n")
    sub = tmp_path / "pkg"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("[tool.black]\nline-length = 79\n")
    forget_line_lengths()
    assert configured_line_length(sub / "m.py") == 79
    assert configured_line_length(tmp_path / "m.py") == 100


# --- one helper module per package -------------------------------------------------------------


DEVICE_USE = "import torch\n\n\ndef make():\n    return torch.ones(2).cuda()\n"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _port_out(src: Path, out: Path) -> None:
    from porter.rewrite.tree_port import PortOptions, port_tree

    result = port_tree(src, PortOptions(out=out))
    assert not result.problems, result.problems


def _run(cwd: Path, *args: str) -> str:
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_package_file_that_never_imported_torch_does_not_once_ported(tmp_path):
    # `to_gpu` takes a tensor made elsewhere: its module runs (and imports) without torch
    src = _tree(tmp_path / "src", {"pkg/__init__.py": "", "pkg/util.py": "def to_gpu(x):\n    return x.cuda()\n",
                                   "pkg/net.py": DEVICE_USE})
    out = tmp_path / "out"
    _port_out(src, out)
    util = (out / "pkg/util.py").read_text()
    assert "from ._porter_helpers import _porter_device" in util and "import torch" not in util
    probe = "import sys, pkg.util; print('torch' in sys.modules)"
    assert _run(out, "-c", probe).strip() == "False"
    probe = "import pkg.util, torch; print(pkg.util.to_gpu(torch.ones(1)).device.type)"
    assert _run(out, "-c", probe).strip() == "cpu"


def test_a_package_imports_its_helpers_from_one_module_and_runs_every_way(tmp_path):
    src = _tree(tmp_path / "src", {
        "pkg/__init__.py": "",
        "pkg/models/__init__.py": "",
        "pkg/models/net.py": DEVICE_USE,                                     # relative: no __main__ block
        "pkg/train.py": "from pkg.models.net import make\nimport torch\n\n"
                        "if __name__ == '__main__':\n    print(make().to('cuda').device.type)\n",  # absolute
        "pkg/tool.py": "import torch\n\nif __name__ == '__main__':\n    print(torch.zeros(1).cuda().device.type)\n",
        "run.py": "import torch\nfrom pkg.models.net import make\n\nprint(make().cuda().device.type)\n",
    })
    out = tmp_path / "out"
    _port_out(src, out)
    shared = (out / "pkg" / "_porter_helpers.py").read_text()
    assert shared.count("def _porter_device") == 1
    net, train = (out / "pkg/models/net.py").read_text(), (out / "pkg/train.py").read_text()
    assert "from .._porter_helpers import _porter_device" in net and "def _porter_device" not in net
    assert "from pkg._porter_helpers import _porter_device" in train and "def _porter_device" not in train
    # a package file run as a script that never imports its package, and a top-level script, keep a copy
    assert "def _porter_device" in (out / "pkg/tool.py").read_text()
    assert "def _porter_device" in (out / "run.py").read_text()
    assert _run(out, "run.py").strip() == "cpu"
    assert _run(out, "-m", "pkg.train").strip() == "cpu"
    assert _run(out, "pkg/tool.py").strip() == "cpu"
    assert _run(out / "pkg", "tool.py").strip() == "cpu"
    # porting the ported tree changes nothing, the shared module included
    again = tmp_path / "again"
    _port_out(out, again)
    for path in out.rglob("*.py"):
        assert (again / path.relative_to(out)).read_text() == path.read_text(), path


def test_a_module_of_that_name_the_project_owns_is_left_alone(tmp_path):
    src = _tree(tmp_path / "src", {"pkg/__init__.py": "", "pkg/net.py": DEVICE_USE,
                                   "pkg/_porter_helpers.py": "VALUE = 1\n"})
    out = tmp_path / "out"
    _port_out(src, out)
    assert (out / "pkg/_porter_helpers.py").read_text() == "VALUE = 1\n"
    assert "def _porter_device" in (out / "pkg/net.py").read_text()


def test_diff_shows_the_new_module(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    src = _tree(tmp_path / "src", {"pkg/__init__.py": "", "pkg/net.py": DEVICE_USE})
    result = CliRunner().invoke(app, ["port", str(src), "--diff", "--no-cache"])
    assert "+++ b/" in result.stdout and "_porter_helpers.py" in result.stdout
    assert "--- /dev/null" in result.stdout


def test_new_cuda_code_in_a_ported_package_file_uses_the_shared_module(tmp_path):
    src = _tree(tmp_path / "src", {"pkg/__init__.py": "", "pkg/net.py": DEVICE_USE})
    out = tmp_path / "out"
    _port_out(src, out)
    edited = (out / "pkg/net.py").read_text() + "\n\ndef more():\n    import triton\n    return torch.zeros(1).cuda()\n"
    (out / "pkg/net.py").write_text(edited)
    again = tmp_path / "again"
    _port_out(out, again)
    text = (again / "pkg/net.py").read_text()
    assert "def _porter_device" not in text and text.count("_porter_helpers import") == 1
    assert "torch.zeros(1).to(_porter_device())" in text


def test_an_import_whose_last_use_was_the_helper_goes_once_the_helper_is_shared(tmp_path):
    # The device choice was the file's only use of `torch`; the helper that replaced it moves to the
    # package's shared module, so the port must not leave `import torch` behind unused.
    src = _tree(tmp_path / "src", {
        "pkg/__init__.py": "",
        "pkg/setup.py": "import torch\nimport torch.distributed as dist\n\n\ndef device():  # a torch.device\n"
                        "    dist.is_available()\n"
                        "    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n",
        "pkg/other.py": "import torch\n\n\ndef f(x):\n    return torch.ones(1).to('cuda') + x\n",
    })
    out = tmp_path / "out"
    _port_out(src, out)
    ported = (out / "pkg/setup.py").read_text()
    assert "import torch\n" not in ported and "import torch.distributed as dist" in ported
    assert "from ._porter_helpers import _porter_device" in ported
    assert ruff_unused(ported, tmp_path) == []
    assert "import torch\n" in (out / "pkg/other.py").read_text()  # still used there


# --- a file that gets torch its own way ---------------------------------------------------------


OWN_TORCH_IN_TESTS = ('import pytest\n\n\ndef test_sync():\n    torch = pytest.importorskip("torch")\n'
                      '    torch.cuda.synchronize()\n')
OWN_TORCH_AT_TOP = 'import pytest\n\ntorch = pytest.importorskip("torch")\n\n\ndef test_sync():\n' \
                   '    torch.cuda.synchronize()\n'


@pytest.mark.parametrize("source", [OWN_TORCH_IN_TESTS, OWN_TORCH_AT_TOP], ids=["in-the-test", "at-the-top"])
def test_a_fix_reading_the_files_own_torch_adds_no_import(tmp_path, source):
    # `torch.accelerator.synchronize()` reads the torch the test bound: an `import torch` at the top
    # would be unused (in the test) or overwritten (at the top), and would fail where pytest skips.
    ported = port(source)
    assert "torch.accelerator.synchronize()" in ported and "import torch" not in ported
    assert ruff_unused(ported, tmp_path) == []


def test_the_helper_a_file_gets_still_imports_torch(tmp_path):
    # the device helper, in the file itself, reads torch from the module: that import is needed
    ported = port(OWN_TORCH_IN_TESTS + '    x = torch.ones(1).to("cuda")\n')
    assert ported.startswith("import pytest\nimport torch\n\n\ndef _porter_device(")
    assert "x = torch.ones(1).to(_porter_device())" in ported
    assert ruff_unused(ported, tmp_path) == []


def test_a_package_test_that_stubs_torch_keeps_no_import_for_the_shared_helper(tmp_path):
    # The device helper reads torch, but it moves to the package's shared module: the file itself
    # reads only its own (stub) torch, so the `import torch` added for the helper goes with it.
    # (its docstring's `import torch` is no import: the port adds one, and takes out its own)
    stub = ('"""Run with:\n\nimport torch\n"""\nimport types\n\n\ndef test_device():\n'
            '    torch = types.SimpleNamespace(device=str)\n    assert torch.device("cuda") == "cuda"\n')
    src = _tree(tmp_path / "src", {"pkg/__init__.py": "", "pkg/test_stub.py": stub})
    out = tmp_path / "out"
    _port_out(src, out)
    ported = (out / "pkg/test_stub.py").read_text()
    assert ported.startswith('"""Run with:\n\nimport torch\n"""\nimport types\nfrom ._porter_helpers import '
                             '_porter_device\n\n\ndef test_device():\n')
    assert ported.count("import torch") == 1 and ruff_unused(ported, tmp_path) == []
