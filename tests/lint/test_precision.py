"""Lint precision: one finding per Triton kernel, labels are not devices, fp64 only where it can
reach the device, and blockers in files without a `cuda` token are still found."""

from __future__ import annotations

from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex, analyse_source
from tests.lint.helpers import FIXTURES, lint, write

CASES = FIXTURES / "precision"
CATALOGUE = load_catalogue(())
INDEX = RuleIndex.build([r for r in CATALOGUE if r.matchers and r.default])


def found(name: str) -> list[tuple[int, str, str]]:
    path = CASES / name
    return [(f.line, f.rule_id, f.matched) for f in analyse_source(path.read_text(), str(path), INDEX)]


def test_one_finding_per_triton_kernel_on_its_jit_decorator():
    hits = [h for h in found("triton_kernels.py") if h[1] == "NRN406"]
    # the two imports, each kernel once (its @triton.jit line: autotune, Config and tl.* are part
    # of it), and the one use of triton outside a kernel (triton.cdiv in the launcher)
    assert hits == [(2, "NRN406", "triton"), (3, "NRN406", "triton.language"), (7, "NRN406", "add_kernel"),
                    (17, "NRN406", "other"), (24, "NRN406", "triton.cdiv")]


def test_port_marks_a_triton_kernel_once():
    path = CASES / "triton_kernels.py"
    rules = [r for r in CATALOGUE if r.matchers and r.default]
    ported = port_source(path.read_text(), str(path), RuleIndex.build(rules), CATALOGUE, "neuron").ported
    marker = "# porter: NRN406 rewrite this Triton kernel in NKI (porter kernels list) or as PyTorch ops\n"
    body = ported[ported.index("def add_kernel"):ported.index(marker + "@triton.jit\ndef other")]
    assert "# porter:" not in body  # no marker on each tl.* statement
    # two guarded imports, one marker above each kernel's decorators, one in the launcher
    assert ported.count("# porter: NRN406") == 5
    assert "# porter: NRN406 rewrite this Triton kernel in NKI (porter kernels list) or as PyTorch ops\n" \
           "@triton.autotune(" in ported


def test_a_device_kind_used_as_a_key_is_a_label():
    hits = found("device_labels.py")
    # `{"cuda": "gpu"}` and `names["cuda"]` are labels; an indexed key (a location map) and a
    # device assigned are still devices
    assert [(line, rule) for line, rule, _ in hits] == [(5, "NRN105"), (5, "NRN105"), (6, "NRN105")]


def test_a_device_kind_looked_up_in_a_table_is_not_a_device_test():
    code = (
        'NAMES = {"cuda": "gpu", "cpu": "host"}\n'
        'def f(args, device, names):\n'
        '    if "cuda" in NAMES or "cuda" not in {"cuda": 1} or "cuda" in names:\n'
        '        return "cuda" in args.device, "cuda" in str(device), "cuda" in device\n'
    )
    hits = [(f.line, f.rule_id) for f in analyse_source(code, "t.py", INDEX)]
    assert hits == [(4, "NRN107")] * 3  # the table lookups on line 3 are neither NRN107 nor NRN105
    ported = port_source(code, "t.py", INDEX, CATALOGUE, "neuron").ported
    assert '"cuda" in NAMES or "cuda" not in {"cuda": 1} or "cuda" in names' in ported


def test_float64_only_where_it_can_reach_the_device():
    hits = [h for h in found("float64_reach.py") if h[1] == "NRN208"]
    # not the dtype table, the tuple, `__init__`'s table, the comparison, `.cpu().double()`,
    # `device="cpu"` or `.double().numpy()`: only the two in the training step
    assert [(line, matched) for line, _, matched in hits] == [(25, "double"), (26, "torch.float64")]


def test_blockers_in_a_file_without_a_cuda_token_are_found(tmp_path, monkeypatch):
    text = (CASES / "fsdp_no_cuda_token.py").read_text()
    assert "cuda" not in text
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "fsdp_setup.py", text)
    out = lint("fsdp_setup.py", "--no-cache").stdout
    assert "fsdp_setup.py:6:37: NRN210" in out and "fsdp_setup.py:6:65: NRN210" in out  # MixedPrecision fp16
    assert "fsdp_setup.py:7:14: NRN209 [*]" in out  # ShardedGradScaler() defaults to device="cuda"
    assert "fsdp_setup.py:9:5: NRN309" in out  # FSDP._shard_parameters_


def test_prefilter_tokens_are_widened_from_the_rule_itself(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('''
[[rule]]
id = "NRN991"
name = "legacy-scaler"
title = "legacy scaler"
category = "precision"
severity = "warning"
message = "`{name}` is legacy"
tokens = ["legacy"]
detects = "x"
why = "y"
examples = false
[[rule.match]]
kind = "name"
names = ["mylib.amp.OldScaler"]
[[rule.match]]
kind = "method"
names = ["half_precision"]
''')
    rule = load_catalogue([rules], builtin=False).get("NRN991")
    assert rule.tokens == ("legacy", "OldScaler", "half_precision")
    index = RuleIndex.build([rule])
    code = "from mylib.amp import OldScaler\ns = OldScaler()\n"
    assert index.wants(code.encode())
    assert [f.line for f in analyse_source(code, "a.py", index)] == [2]


def test_catalogue_tokens_cover_every_spelled_name():
    for rule in CATALOGUE:
        for m in rule.matchers:
            if m.kind in ("method", "attribute"):
                assert all(any(t in n for t in rule.tokens) for n in m.names), rule.id




def test_a_compile_decorator_with_a_backend_is_not_reported():
    # `@torch.compile(...)` is read by its call matcher (is there a backend?); only a bare
    # `@torch.compile` has no arguments to read. The port writes the first: linting it is clean.
    code = ("import torch\n\n@torch.compile(dynamic=False)\ndef f(x):\n    return x\n\n"
            "@torch.compile(backend='neuron')\ndef g(x):\n    return x\n\n@torch.compile\ndef h(x):\n    return x\n")
    hits = [(f.line, f.rule_id) for f in analyse_source(code, "t.py", INDEX)]
    assert hits == [(3, "NRN502"), (11, "NRN502")]
    ported = port_source(code, "t.py", INDEX, CATALOGUE, "neuron").ported
    assert [f.rule_id for f in analyse_source(ported, "t.py", INDEX)] == []
