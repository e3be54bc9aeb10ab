"""A big file is ported through libcst only where a fix can touch it (porter.rewrite.narrow): the
result must be the whole-file port's, byte for byte, with the same report lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from porter.rewrite import narrow
from porter.rewrite.file_port import port_source
from porter.source.catalogue import TARGETS, load_catalogue
from porter.source.engine import RuleIndex, analyse_source

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(())
INDEX = RuleIndex.build([r for r in CATALOGUE if r.matchers and r.default])
CASES = sorted([*(ROOT / "tests" / "fixtures" / "port" / "narrow").glob("*.py"),
                ROOT / "tests" / "fixtures" / "port" / "train.py",
                ROOT / "tests" / "fixtures" / "port" / "narrow" / "shape_pkg" / "model.py",
                *(ROOT / "examples").glob("*/*.py")])


def _summary(port):
    return port.ported, port.error, [(c.rule_id, c.line, c.col, c.action, c.detail) for c in port.changes]


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize("target", TARGETS)
def test_narrow_port_is_the_whole_file_port(path, target, always_narrow):
    text = path.read_text()
    whole = port_source(text, str(path), INDEX, CATALOGUE, target)
    cut = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, target)
    assert _summary(cut) == _summary(whole)


def test_the_cut_leaves_out_what_no_fix_touches(always_narrow):
    path = ROOT / "tests" / "fixtures" / "port" / "narrow" / "mixed_module.py"
    text = path.read_text()
    plan = narrow._plan(text, analyse_source(text, "m.py", INDEX))
    assert plan is not None
    skeleton, line_map, originals, *_ = plan
    assert "def helper" not in skeleton and "def forward" not in skeleton and "def describe" not in skeleton
    assert "def to_gpu" in skeleton and "def train_step" in skeleton and '__all__ = ["Model"' in skeleton
    # a placeholder names the imported names its unit reads (`torch` in helper), nothing else
    placeholders = [line.strip() for line in skeleton.splitlines() if "__porter_keep_" in line]
    assert any(line.endswith(" = (torch,)") for line in placeholders)
    assert not any("SCALE" in line for line in placeholders)
    ported = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, "neuron").ported
    assert "__porter_keep_" not in ported
    assert "    return torch.relu(x) * SCALE\n" in ported and 'return f"Model({self.lin})"' in ported
    assert len(line_map) == len(skeleton.splitlines()) and set(originals) == set(range(len(originals)))


def test_a_port_run_uses_the_cut_for_big_files(tmp_path):
    from typer.testing import CliRunner

    from porter.cli import app

    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(800))
    (tmp_path / "big.py").write_text("import torch\n\n\n" + body + "def g(x):\n    return x.cuda()\n")
    result = CliRunner().invoke(app, ["port", str(tmp_path / "big.py"), "--diff", "--no-cache"])
    assert result.exit_code == 1, result.output
    assert "+    return x.to(_porter_device())" in result.stdout
    assert "__porter_keep_" not in result.stdout


def test_a_huge_literal_without_findings_stays_out_of_libcst():
    # one long list (the shape that took a whole-file port 19 s for 689 KB at 100k elements) and one site
    text = "import torch\nDATA = [" + ", ".join(map(str, range(20_000))) + "]\nx = torch.zeros(1).cuda()\n"
    skeleton, _, originals, *_ = narrow._plan(text, analyse_source(text, "big.py", INDEX))
    assert len(skeleton) < 200 and len(originals) == 1
    ported = narrow.port_source_narrow(text, "big.py", INDEX, CATALOGUE, "neuron").ported
    assert ported == port_source(text, "big.py", INDEX, CATALOGUE, "neuron").ported


def _skeleton(name: str) -> str:
    text = (ROOT / "tests" / "fixtures" / "port" / "narrow" / name).read_text()
    plan = narrow._plan(text, analyse_source(text, name, INDEX))
    assert plan is not None
    return plan[0]


def test_the_cut_goes_into_blocks_and_keeps_their_headers(always_narrow):
    skeleton = _skeleton("nested_blocks.py")
    # statements of a long function without a site are left out; the site lines and headers stay
    assert "total += float(loss)" not in skeleton and "inputs = inputs.cuda(non_blocking=True)" in skeleton
    assert "    for step, batch in enumerate(batches):" in skeleton and "    else:" in skeleton
    # an elif chain keeps its headers (a placeholder never stands for an `elif`)
    assert skeleton.count("elif kind ==") == 3
    # a try's handlers come before its else: the cut keeps the source order
    assert skeleton.index("except ImportError:") < skeleton.index("__porter_keep_1__")
    # a body on its header's line stays with it
    assert 'if kind == "gpu": return torch.device("cuda")' in skeleton
    # the decorators of a kept function that hold no site are cut, one placeholder for the two
    assert "@torch.no_grad()" not in skeleton and "@__porter_keep_" in skeleton and "def decorated(x):" in skeleton


def test_the_cut_goes_into_long_statements(always_narrow):
    skeleton = _skeleton("big_literals.py")
    placeholders = [line.strip() for line in skeleton.splitlines() if "__porter_keep_" in line]
    assert any(p.endswith("(),") for p in placeholders)  # a list element, with its comma
    assert any(p.endswith(": (),") for p in placeholders)  # a dict entry
    assert '"test_out",\n        device_type="cuda",' in skeleton  # the element holding a site stays whole
    assert "*[entry(" in skeleton  # a starred element is never cut
    assert '"precision"' not in skeleton and '"cuda:0",' in skeleton
    # a call whose argument is a site may be a fix's target: its arguments all stay
    assert "sync_module_states=True,\n        use_orig_params=True," in skeleton
    assert "non_blocking=True," in skeleton
    # other calls' arguments without a site are cut
    assert "sizes[0]," not in skeleton


VARIANTS = {
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "non-ascii names": lambda text: text.replace("entry(", "éntrée(").replace("total", "tötal"),
    "tab indents": lambda text: text.replace("    ", "\t"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", ["big_literals.py", "nested_blocks.py"])
def test_the_cut_holds_for_line_endings_indents_and_non_ascii(name, variant, always_narrow):
    # ast columns count UTF-8 bytes: a cut beside a non-ASCII name must still find its edges
    text = VARIANTS[variant]((ROOT / "tests" / "fixtures" / "port" / "narrow" / name).read_text())
    assert narrow._plan(text, analyse_source(text, name, INDEX)) is not None
    for target in TARGETS:
        whole = port_source(text, name, INDEX, CATALOGUE, target)
        assert _summary(narrow.port_source_narrow(text, name, INDEX, CATALOGUE, target)) == _summary(whole)


def test_a_cut_keeps_the_comments_closing_a_cut_function(always_narrow):
    path = ROOT / "tests" / "fixtures" / "port" / "narrow" / "trailing_comments.py"
    text = path.read_text()
    skeleton = narrow._plan(text, analyse_source(text, str(path), INDEX))[0]
    assert "# the last comment." not in skeleton  # cut with the function it closes
    ported = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, "neuron").ported
    assert ported.endswith(text[text.index("def last_step"):])


def test_a_cut_without_the_files_first_block_ports_the_whole_file(always_narrow):
    path = ROOT / "tests" / "fixtures" / "port" / "narrow" / "first_block_indent.py"
    text = path.read_text()
    skeleton = narrow._plan(text, analyse_source(text, str(path), INDEX))[0]
    assert "manual_seed" not in skeleton  # the eight-space block is cut: the cut's default indent is four
    ported = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, "neuron").ported
    assert "\n        if isinstance(index, torch.device):" in ported  # the helper as the whole file writes it


def test_statements_with_only_plain_cuda_calls_are_fixed_as_text(always_narrow, skeletons, monkeypatch):
    path = ROOT / "tests" / "fixtures" / "port" / "narrow" / "text_fixes.py"
    text = path.read_text()
    monkeypatch.setattr(narrow, "lines_apart", lambda *args, **kwargs: None)  # the text fixes alone
    cut = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, "neuron")
    skeleton = skeletons[0]
    # left out of libcst's port and edited as text
    for line in ("model = torch.nn.Linear", "batch = torch.randn", "a, b = ", "c = torch.ones(2).cuda().cuda()"):
        assert line not in skeleton
    # left to libcst: a lambda, an f-string, a device(...) call, a statement with another site
    for line in ("load = lambda", "label = f", "dev = torch.device(", "mixed = (torch.ones(2).cuda(),"):
        assert line in skeleton
    assert "c = torch.ones(2).to(_porter_device()).to(_porter_device())\n" in cut.ported
    assert "kept = torch.ones(2).cuda()  # noqa: NRN101\n" in cut.ported
    assert _summary(cut) == _summary(port_source(text, str(path), INDEX, CATALOGUE, "neuron"))


def test_a_test_binding_its_own_torch_gets_no_import_through_the_cut(always_narrow):
    path = ROOT / "tests" / "fixtures" / "port" / "narrow" / "stubbed_torch.py"
    text = path.read_text()
    skeleton = narrow._plan(text, analyse_source(text, str(path), INDEX))[0]
    # the test's own binding is cut: which torch a fix reads is read from the whole file's scopes
    assert 'torch = pytest.importorskip("torch")' not in skeleton
    ported = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, "neuron").ported
    assert "if not torch.accelerator.is_available() or count < 2:" in ported and "import torch" not in ported


def test_a_functions_own_import_is_judged_by_its_own_reads_through_the_cut(always_narrow):
    path = ROOT / "tests" / "fixtures" / "port" / "narrow" / "function_imports.py"
    ported = narrow.port_source_narrow(path.read_text(), str(path), INDEX, CATALOGUE, "neuron").ported
    assert "def second(x):\n    import torch\n" in ported  # still read in `second`, past a cut
    assert "from torch.cuda import synchronize" not in ported and "import torch.backends" not in ported
