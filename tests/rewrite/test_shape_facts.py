"""The helper shape of a file the narrow port cut comes from its ported skeleton and lint's tree
(porter.rewrite.shape_facts): it must be what parsing the whole ported file gives."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from porter.config import ConfigResolver, Overrides
from porter.rewrite.narrow import port_source_narrow
from porter.rewrite.shape_facts import facts_of_tree
from porter.rewrite.shared_helpers import helper_shape
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import ignored_rules, select_rules

PACKAGE = Path(__file__).resolve().parents[1] / "fixtures" / "port" / "narrow" / "shape_pkg"


def _port(path: Path, text: str):
    settings = ConfigResolver(Overrides()).for_path(path.parent)
    catalogue = load_catalogue(settings.rule_paths)
    rules = [r for r in select_rules(catalogue, settings) if r.matchers]
    index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings))
    return port_source_narrow(text, str(path), index, catalogue, settings.target)


VARIANTS = {
    "as written": lambda text: text,
    # a line ported apart above the block takes two lines (a marker): the lines below move
    "marker above the import": lambda text: text.replace("import math\n", "version = getattr(torch.version, "
                                                         "\"cuda\", \"0.0\")\nimport math\n"),
    "crlf": lambda text: text.replace("\n", "\r\n"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_cut_file_facts_are_the_whole_parse(variant, tmp_path):
    path = tmp_path / "shape_pkg" / "model.py"
    path.parent.mkdir()
    (path.parent / "__init__.py").write_text("")
    text = VARIANTS[variant]((PACKAGE / "model.py").read_text())
    port = _port(path, text)
    assert port.cut is not None and port.changed, "the fixture must be cut and ported"
    assert port.cut.apart, "a line in a cut unit is ported apart"
    facts = port.cut.facts()
    assert facts is not None
    assert facts == facts_of_tree(ast.parse(port.ported))
    assert facts.relative and facts.runs_as_script and facts.defs
    shape = helper_shape(path, port.ported, port.original, port.cut)
    assert shape == helper_shape(path, port.ported, port.original)


def test_a_unit_that_is_not_its_lines_takes_the_whole_parse(tmp_path):
    path = tmp_path / "shape_pkg" / "model.py"
    path.parent.mkdir()
    (path.parent / "__init__.py").write_text("")
    port = _port(path, (PACKAGE / "model.py").read_text())
    unit = max(port.cut.originals)
    port.cut.originals[unit] = "import os\n" + port.cut.originals[unit]  # not what the file's lines hold
    assert port.cut.facts() is None
    assert helper_shape(path, port.ported, port.original, port.cut) == helper_shape(path, port.ported, port.original)


def test_lines_below_a_line_ported_apart_move_down_in_their_unit():
    # Built by hand as the narrow port would: one unit (lines 2-8) whose line 3 took a marker above it.
    from porter.rewrite.narrow import _PLACEHOLDER, _splice
    from porter.rewrite.shape_facts import CutFile

    source = ("import torch\n"
              "def f():\n"
              "    x = 'cuda'\n"
              "    return x\n"
              "class _PorterMissing:\n"
              "    \"\"\"Added by porter.\"\"\"\n"
              "    from . import sibling\n"
              "import os\n")
    lines = source.splitlines(keepends=True)
    apart = {3: "    # porter: NRN105 marked\n    x = 'cuda'\n"}
    unit = "".join(lines[1:2]) + apart[3] + "".join(lines[3:8])
    skeleton = "import torch\n__porter_keep_0__ = ()\n"
    cut = CutFile(skeleton, skeleton, [1, 2], {0: unit}, ast.parse(source), lines, _PLACEHOLDER, apart)
    ported = _splice(skeleton, {0: unit})
    facts = cut.facts()
    assert facts == facts_of_tree(ast.parse(ported))
    assert facts.defs == (("_PorterMissing", 6, 8),) and facts.top_imports == (1, 9) and facts.relative
