"""The matching engine, on a fixture catalogue with one rule per matcher kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porter.source.catalogue import CatalogueError, _load_file
from porter.source.engine import RuleIndex, analyse_source

FIXTURE = Path(__file__).parent.parent / "fixtures" / "rules" / "matchers.toml"
RULES = _load_file(FIXTURE.read_bytes(), str(FIXTURE))


def lint(code: str, target: str = "neuron") -> list[tuple[int, int, str, str]]:
    index = RuleIndex.build(r for r in RULES if r.applies_to(target))
    return [(f.line, f.col, f.rule_id, f.message) for f in analyse_source(code, "t.py", index) if not f.suppressed]


def ids(code: str, target: str = "neuron") -> list[str]:
    return [rule_id for _, _, rule_id, _ in lint(code, target)]


def test_method_call_points_at_the_method():
    assert lint("y = torch.zeros(3).cuda()\n") == [(1, 20, "NRN801", "method .cuda()")]


def test_method_on_module_namespace_is_not_a_method_call():
    # `torch.cuda` is a module attribute, not a `.cuda()` call on a value
    assert "NRN801" not in ids("import torch\ntorch.cuda.synchronize()\n")


def test_most_specific_name_pattern_wins():
    code = "import torch\ntorch.cuda.synchronize()\ntorch.cuda.empty_cache()\n"
    assert ids(code) == ["NRN802", "NRN803"]


def test_longest_chain_only():
    assert ids("import torch\ntorch.cuda.amp.autocast()\n") == ["NRN803"]


@pytest.mark.parametrize(
    "code",
    [
        "import torch.cuda as tc\ntc.synchronize()\n",
        "from torch import cuda\ncuda.synchronize()\n",
        "from torch.cuda import synchronize as s\n\n\ndef f():\n    s()\n",
    ],
)
def test_aliases_are_found_on_lines_without_a_token(code):
    assert ids(code) == ["NRN802"]


def test_unresolved_names_are_left_alone():
    assert ids("def f(torch):\n    torch.cuda.synchronize()\n") == []


def test_argument_claims_its_string_so_it_is_reported_once():
    assert ids('import torch\nd = torch.device("cuda")\n') == ["NRN804"]
    assert ids('import torch\nd = torch.device(type="cuda:1")\n') == ["NRN804"]


def test_keyword_and_formatted_device_strings():
    code = 'import torch\nx = torch.ones(2, device=f"cuda:{rank}")\ny = torch.ones(2, device="cuda:" + str(r))\n'
    assert ids(code) == ["NRN805", "NRN805"]


def test_device_selection_expression_is_one_finding():
    code = 'import torch\nx = torch.ones(2, device="cuda" if ok else "cpu")\n'
    assert ids(code) == ["NRN805"]


def test_fallback_string_rule_and_docstrings():
    code = '"""Runs on cuda."""\nDEVICE = "cuda:0"\nmsg = "cuda is great"\nr = f"cuda:{rank}"\n'
    assert ids(code) == ["NRN806", "NRN806"]


def test_comparisons():
    code = 'a = d.type == "cuda"\nb = "cuda" in str(d)\nc = str(d).startswith("cuda")\ne = x == "cpu"\n'
    assert ids(code) == ["NRN807", "NRN807", "NRN807"]


def test_attribute_read():
    assert ids("if x.is_cuda:\n    pass\n") == ["NRN808"]


def test_imports_and_decorators_of_packages():
    # the two imports and the kernel, once, on its @triton.jit (not its `tl.load`)
    code = "import triton\nimport triton.language as tl\n\n\n@triton.jit\ndef k(x):\n    tl.load(x)\n"
    assert ids(code) == ["NRN809", "NRN809", "NRN809"]


def test_absent_argument_is_target_specific():
    code = "import torch\nm = torch.compile(model)\nn = torch.compile(model, backend='neuron')\n"
    assert ids(code, "neuron") == ["NRN810"]
    assert ids(code, "portable") == []


def test_absent_argument_with_kwargs_splat_is_unknown():
    assert ids("import torch\nm = torch.compile(model, **opts)\n") == []


@pytest.mark.parametrize(
    "code",
    [
        'import torch.distributed as dist\ndist.init_process_group("nccl")\n',
        'import torch.distributed as dist\ndist.init_process_group(backend="nccl", rank=0)\n',
        'from torch.distributed import init_process_group\ninit_process_group(backend="cpu:gloo,cuda:nccl")\n',
        'import torch.distributed as dist\ndist.init_process_group(dist.Backend.NCCL)\n',
    ],
)
def test_nccl_in_every_spelling(code):
    assert ids(code) == ["NRN811"]


def test_gloo_is_fine():
    assert ids('import torch.distributed as dist\ndist.init_process_group("gloo")\n') == []


def test_columns_count_characters_not_bytes():
    assert lint('s = "é"; y = x.cuda()\n') == [(1, 16, "NRN801", "method .cuda()")]


def test_syntax_error_is_one_diagnostic():
    found = analyse_source("print 'cuda'\n", "t.py", RuleIndex.build(RULES))
    assert [(f.rule_id, f.line) for f in found] == [("NRN001", 1)]


def test_files_without_tokens_are_not_parsed():
    # a syntax error is only found if the file is parsed at all
    assert analyse_source("this is not python\n", "t.py", RuleIndex.build(RULES)) == []


def test_match_statements_are_walked():
    """`case` blocks carry no line numbers of their own; a CUDA call inside one is still found."""
    from porter.config import Settings
    from porter.source.catalogue import load_catalogue
    from porter.source.selection import select_rules

    catalogue = load_catalogue()
    index = RuleIndex.build([r for r in select_rules(catalogue, Settings(root=Path("."))) if r.matchers])
    source = 'import torch as T\ndef f(x):\n    match x:\n        case "a":\n            return 1\n' \
             '        case _:\n            import torch.cuda as tc\n            return x.cuda(), tc.synchronize()\n'
    codes = [f.rule_id for f in analyse_source(source, "m.py", index)]
    assert "NRN003" not in codes
    assert {"NRN101", "NRN123"} <= set(codes)


@pytest.mark.parametrize("text", [
    "", "cuda", "x\ncuda\n\ndevice_ids = 1\n", "a_cudacuda\nno\nNCCL_X cuda\n", "\n\nfoo.device_id\nbar",
    "é cuda\n\u2028x\ncuda",  # a line separator str.splitlines would split at is not a line end here
])
def test_token_lines_finds_the_lines_the_token_regex_does(text):
    import re

    from porter.source.rule_index import hit_lines, token_lines

    tokens = ("NCCL", "NCCL_", "cuda", "device_id", "device_ids", "_cuda")
    regex = re.compile("|".join(re.escape(t) for t in tokens))
    assert token_lines(text, tokens) == hit_lines(text, regex)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["cuda", "CUDA_", "_range", "NCCL", "nccl", "device_id", "x", "é", "\n", "\r\n",
                                 " ", "cud", "a_", "\u2028", "\t#"]), max_size=40))
def test_index_token_lines_in_text_and_in_its_bytes_are_the_token_regex_lines(parts):
    from porter.source.rule_index import hit_lines

    index = _catalogue_index()
    text = "".join(parts)
    expected = hit_lines(text, index.token_regex)
    assert index.token_lines(text) == expected
    assert index.token_lines(text.encode("utf-8")) == expected


def _catalogue_index() -> RuleIndex:
    from porter.config import Settings
    from porter.source.catalogue import load_catalogue
    from porter.source.selection import select_rules

    global _INDEX
    if _INDEX is None:
        catalogue = load_catalogue()
        _INDEX = RuleIndex.build([r for r in select_rules(catalogue, Settings(root=Path("."))) if r.matchers])
    return _INDEX


_INDEX: RuleIndex | None = None


def test_index_token_lines_on_a_file_with_no_token_is_empty_and_the_index_still_pickles():
    import pickle

    index = _catalogue_index()
    assert index.token_lines(b"import os\nprint(os.getcwd())\n") == []
    assert index.token_lines("x = 1\n") == []
    copy = pickle.loads(pickle.dumps(index))  # a spawned worker gets the index pickled, searchers built anew
    assert copy.token_lines(b"a\nx.cuda()\n") == [2]


def test_prefilter_searches_only_tokens_that_hold_no_other():
    index = RuleIndex.build(RULES)
    assert set(index.search_tokens) <= set(index.tokens)
    for token in index.tokens:
        assert any(t in token for t in index.search_tokens)


@pytest.mark.parametrize("text", [
    "", "tc", "x = tc.sync()\nntc = 1\ntc_x = 2\n\n(tc)\n", "F.relu\nFn(1)\nxF\n_F\nF_\n", "éF F\nFé\n\n",
    "tcF\nF tc", "a.F\n1F\n",
])
def test_word_lines_finds_the_lines_the_word_regex_does(text):
    import re

    from porter.source.rule_index import hit_lines, word_lines

    words = ("tc", "F", "Fn")
    regex = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words)) + r")\b")
    assert word_lines(text, words) == hit_lines(text, regex)


@pytest.mark.parametrize("data", [
    b"import torch\nx = torch.zeros(1).cuda()\n",
    "# -*- coding: latin-1 -*-\n# caf\u00e9\nimport torch\nx.cuda()\n".encode("latin-1"),
    "# -*- coding: cp1252 -*-\ns = '\u20ac'\nx.cuda()\n".encode("cp1252"),
    b"\xef\xbb\xbfx.cuda()\ny = 'cuda'\n",
])
def test_tokens_found_in_the_bytes_give_the_findings_of_a_full_scan(data):
    from porter.source.runner import analyse_bytes, decode_python

    index = RuleIndex.build(RULES)
    text = decode_python(data, "t.py")
    assert analyse_bytes(data, "t.py", index) == analyse_source(text, "t.py", index) != []


def _compile_rule(callee: str) -> list:
    """A one-rule catalogue whose call matcher (`callee` = methods or callee line) takes keywords_only."""
    return _load_file(f"""
[[rule]]
id = "NRN899"
name = "module-compile"
title = "t"
category = "compile"
severity = "warning"
message = "m"
tokens = ["compile"]
detects = "d"
why = "w"
[[rule.match]]
kind = "call"
{callee}
keyword = "backend"
value = "absent"
keywords_only = ["fullgraph", "backend"]
""".encode(), "k.toml")


def test_keywords_only_matches_the_methods_own_signature_alone():
    index = RuleIndex.build(_compile_rule('methods = ["compile"]'))
    found = [f.line for f in analyse_source(
        "net.compile()\nnet.compile(fullgraph=True)\nregex.compile('x')\nm.compile(optimizer='adam')\n"
        "net.compile(**options)\n", "t.py", index)]
    assert found == [1, 2]  # a positional argument or another keyword: another object's `compile`


def test_keywords_only_needs_a_call_matcher_by_method():
    with pytest.raises(CatalogueError, match="keywords_only"):
        _compile_rule('callee = ["torch.compile"]')


def test_a_module_bound_by_importorskip_is_matched_like_an_import():
    assert ids('import pytest\ntorch = pytest.importorskip("torch")\ntorch.cuda.synchronize()\n') == ["NRN802"]


ALTERNATIVE_IMPORTS = """\
try:
    from triton.backends.nvidia.driver import libcuda_dirs
except ImportError:
    from triton.common.build import libcuda_dirs
libcuda_dirs()
"""


def test_a_name_with_two_origins_is_reported_the_same_in_every_run(tmp_path):
    # the report names one of the name's origins; which one must not depend on string hashing
    import os
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "from porter.source.catalogue import load_catalogue\n"
        "from porter.source.engine import RuleIndex, analyse_source\n"
        "rules = [r for r in load_catalogue(()) if r.matchers and r.default]\n"
        "found = analyse_source(sys.stdin.read(), 'm.py', RuleIndex.build(rules))\n"
        "print(sorted({f.matched for f in found if f.line == 5}))\n")
    seen = set()
    for seed in ("1", "2", "3", "4"):
        out = subprocess.run([sys.executable, str(script)], input=ALTERNATIVE_IMPORTS, capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        seen.add(out.stdout.strip())
    assert seen == {"['triton.backends.nvidia.driver.libcuda_dirs']"}
