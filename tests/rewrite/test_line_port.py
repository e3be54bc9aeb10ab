"""One-line statements ported apart from their file (porter.rewrite.line_port): the cut leaves them out
of libcst's port of the file, and the result is still the whole-file port's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from porter.rewrite import narrow
from porter.rewrite.file_port import port_source
from porter.rewrite.line_port import port_lines, torch_name
from porter.source.catalogue import TARGETS, load_catalogue
from porter.source.engine import RuleIndex, analyse_source

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "port" / "narrow"
CATALOGUE = load_catalogue(())
INDEX = RuleIndex.build([r for r in CATALOGUE if r.matchers and r.default])
FOUR, TWO = FIXTURES / "lines_apart.py", FIXTURES / "lines_apart_two_spaces.py"


def _summary(port):
    return port.ported, port.error, [(c.rule_id, c.line, c.col, c.action, c.detail) for c in port.changes]


def _skeleton(skeletons: list[str], path: Path, target: str = "neuron") -> tuple[str, object]:
    cut = narrow.port_source_narrow(path.read_text(), str(path), INDEX, CATALOGUE, target)
    return skeletons[0], cut


@pytest.mark.parametrize("path", [FOUR, TWO], ids=lambda p: p.name)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("unsafe", "line_length"), [(True, None), (False, 60), (True, 60)])
def test_lines_ported_apart_give_the_whole_file_port(path, target, unsafe, line_length, always_narrow):
    text = path.read_text()
    whole = port_source(text, str(path), INDEX, CATALOGUE, target, unsafe_fixes=unsafe, line_length=line_length)
    cut = narrow.port_source_narrow(text, str(path), INDEX, CATALOGUE, target, unsafe_fixes=unsafe,
                                    line_length=line_length)
    assert whole.changed
    assert _summary(cut) == _summary(whole)


def test_the_lines_are_left_out_of_libcsts_port(always_narrow, skeletons):
    skeleton, cut = _skeleton(skeletons, FOUR)
    for line in ("torch.cuda.synchronize()", "with autocast():", 'device="cuda"', "torch.cuda.is_available()",
                 "GradScaler()", 'x.to("cuda:0")', '"nccl"', "x.half().cuda()", "load = lambda"):
        assert line not in skeleton, line
    # left: the imports, and the function around an import a ported line read (its import goes)
    assert "import torch\n" in skeleton and "from torch.cuda.amp import autocast\n" in skeleton
    assert skeleton.count("def ") == 1 and "def timed(x):\n    from torch.cuda import synchronize\n" in skeleton
    assert "class " not in skeleton
    # the ported lines read what the port writes: imports nothing reads any more are dropped
    assert "from torch.cuda.amp import autocast" not in cut.ported
    assert "from torch.cuda import synchronize" not in cut.ported
    assert cut.ported.count("if torch.accelerator.is_available():\n        torch.accelerator.synchronize()") == 4


def test_blocks_a_fix_writes_take_the_files_indent(always_narrow, skeletons):
    skeleton, cut = _skeleton(skeletons, TWO)
    assert "torch.cuda.synchronize()" not in skeleton.split("def ", 1)[-1]
    assert "\n  if torch.accelerator.is_available():\n    torch.accelerator.synchronize()\n" in cut.ported


def _lines(path: Path, target: str = "neuron"):
    text = path.read_text()
    parsed: list = []
    findings = analyse_source(text, str(path), INDEX, keep_tree=parsed)
    lines = text.splitlines(keepends=True)
    ported = port_lines(text, lines, parsed[0], findings, CATALOGUE, target, False, None, ("    ", "\n"), INDEX,
                        str(path))
    return lines, ported


def test_a_site_left_to_do_inside_a_fix_is_checked_by_lint_on_the_line():
    lines, ported = _lines(FOUR)
    half = [n for n, text in enumerate(lines, start=1) if "x.half().cuda()" in text]
    # NRN206 (`.half()`, an unsafe fix not applied) sits inside the `.cuda()` call NRN101 rewrites:
    # lint on the line alone finds it again after the port, so the line is ported apart
    assert half and all(ported.settled[n] == {"NRN206"} for n in half)
    assert [c.action for c in ported.changes[half[0]]] == ["unsafe-skipped", "fixed"]


def test_a_marked_file_is_not_ported_apart():
    text = "import torch\n\n\ndef f():\n    # porter: NRN120 reviewed\n    torch.cuda.synchronize()\n"
    parsed: list = []
    findings = analyse_source(text, "m.py", INDEX, keep_tree=parsed)
    assert findings
    assert port_lines(text, text.splitlines(keepends=True), parsed[0], findings, CATALOGUE, "neuron", False, None,
                      ("    ", "\n"), INDEX, "m.py") is None


@pytest.mark.parametrize(("code", "name"), [
    ("import torch as T\n", "T"),
    ("import os\n\n\ndef f():\n    import torch as th\n", "th"),
    ("import numpy\n", None),
])
def test_the_torch_name_is_the_ports(code, name):
    import ast

    assert torch_name(ast.parse(code)) == name
