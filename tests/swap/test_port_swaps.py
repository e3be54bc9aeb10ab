"""`porter port` on kernel-library code: what is swapped runs porter's shims, what is not is guarded or
marked with the reason, and the port report says which is which (never a swap the code does not make).
The ported snippets are executed, so a claimed swap is one that runs and a refused argument is one the
shim refuses at run time too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from porter.kernels.compat import UnsupportedArgumentError  # noqa: E402

from porter.config import Overrides  # noqa: E402
from porter.rewrite.report import build_report, render_markdown  # noqa: E402
from porter.rewrite.tree_port import PortOptions, port_tree  # noqa: E402

from . import originals  # noqa: E402


def port_file(tmp_path: Path, code: str, name: str = "snippet.py") -> tuple[str, dict]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(parents=True)
    (src / name).write_text(code)
    result = port_tree(src, PortOptions(target="neuron", out=out), Overrides(target="neuron"))
    assert not result.problems, result.problems
    report = json.loads(json.dumps(build_report(result)))
    ported = (out / name).read_text()
    compile(ported, name, "exec")
    return ported, report


def run(code: str, **values) -> dict:
    scope = dict(values)
    exec(compile(code, "ported.py", "exec"), scope)
    return scope


def rows(report: dict, key: str, line: int) -> list[dict]:
    return [item for item in report[key] if item["line"] == line]


def qkv(heads=2, seq=5, dim=8):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(2, seq, heads, dim, generator=gen) for _ in range(3)]


# ---------------------------------------------------------------- 1. an import with one name without a drop-in

PARTIAL = """\
from flash_attn import flash_attn_func, flash_attn_with_kvcache


def attend(q, k, v):
    return flash_attn_func(q, k, v, causal=True)


def decode(q, k, v):
    return flash_attn_with_kvcache(q, k, v)
"""


def test_a_partly_swappable_import_is_split_and_the_swapped_name_runs_the_shim(tmp_path):
    ported, report = port_file(tmp_path, PARTIAL)
    assert "from porter.kernels.compat.flash_attn import flash_attn_func\n" in ported
    assert "try:\n    from flash_attn import flash_attn_with_kvcache\nexcept ImportError:" in ported
    assert "flash_attn_func = " not in ported  # never bound to a stand-in
    assert "# porter: NRN411" not in ported  # nothing claims the import points at the shims when it does not
    guard_marker = next(line for line in ported.splitlines() if line.startswith("# porter: NRN401"))
    assert "not swapped: flash_attn.flash_attn_with_kvcache" in guard_marker
    scope = run(ported)
    q, k, v = qkv()
    torch.testing.assert_close(scope["attend"](q, k, v), originals.flash_attn_func(q, k, v, causal=True),
                               atol=2e-5, rtol=2e-4)
    with pytest.raises(ImportError):
        scope["decode"](q, k, v)
    # the report: the import's swapped name and the call are swaps; the other name and its use are not
    assert [r["calls"] for r in rows(report, "swaps", 5)] == ["porter.kernels.compat.flash_attn.flash_attn_func"]
    assert [r["calls"] for r in rows(report, "swaps", 1)] == ["porter.kernels.compat.flash_attn.flash_attn_func"]
    assert {r["name"] for r in rows(report, "not_swapped", 1)} == {"flash_attn.flash_attn_with_kvcache"}
    assert rows(report, "not_swapped", 9)[0]["reason"] == "porter has no drop-in for flash_attn.flash_attn_with_kvcache"
    assert not rows(report, "swaps", 9)


def test_uses_of_an_import_that_cannot_be_swapped_are_not_reported_as_swapped(tmp_path):
    code = "import flash_attn.ops.rms_norm\n\ny = flash_attn.ops.rms_norm.rms_norm(x, w, 1e-6)\n"
    ported, report = port_file(tmp_path, code)
    assert "import flash_attn.ops.rms_norm\n" in ported  # left as it is, and marked
    assert "# porter: NRN411 flash-attn → NKI attention: not rewritten here, import flash_attn.ops.rms_norm " \
           "without an alias" in ported
    assert not report["swaps"]
    (use,) = rows(report, "not_swapped", 3)
    assert use["reason"].startswith("its import is not swapped: `import flash_attn.ops.rms_norm` without an alias")
    markdown = render_markdown(report)
    assert "## Not swapped" in markdown and "## Kernel swaps" not in markdown


# ---------------------------------------------------------------- 2. default values are not findings

def test_default_values_written_out_are_not_marked(tmp_path):
    code = ("from flash_attn import flash_attn_func\n\n\ndef attend(q, k, v):\n"
            "    return flash_attn_func(q, k, v, 0.0, causal=True, window_size=(-1, -1), softcap=0.0,\n"
            "                           alibi_slopes=None, return_attn_probs=False)\n")
    ported, report = port_file(tmp_path, code)
    assert "# porter:" not in ported
    assert not report["manual"] and report["effort"] == "none"
    assert [r["line"] for r in report["swaps"]] == [1, 5]
    q, k, v = qkv()
    torch.testing.assert_close(run(ported)["attend"](q, k, v), originals.flash_attn_func(q, k, v, causal=True),
                               atol=2e-5, rtol=2e-4)


def test_a_value_that_is_not_a_literal_is_marked_as_unprovable(tmp_path):
    code = ("from flash_attn import flash_attn_func\n\n\ndef attend(q, k, v, w, training):\n"
            "    return flash_attn_func(q, k, v, 0.1 if training else 0.0, window_size=w)\n")
    ported, report = port_file(tmp_path, code)
    marker = next(line for line in ported.splitlines() if "# porter: NRN415" in line)
    # one marker for the statement, naming both arguments, and saying why a variable is reported
    assert "0.1 if training else 0.0, window_size=w is not supported" in marker
    assert "a value that is not a literal cannot be checked here" in marker
    assert ported.count("# porter: NRN415") == 1
    (call,) = rows(report, "not_swapped", 5)
    assert "window_size=w" in call["reason"] and "not a literal" in call["reason"]
    q, k, v = qkv()
    run(ported)["attend"](q, k, v, (-1, -1), False)  # at run time the defaults are fine ...
    with pytest.raises(UnsupportedArgumentError, match="dropout_p"):
        run(ported)["attend"](q, k, v, (-1, -1), True)  # ... and the rest raises, as the marker says


# ---------------------------------------------------------------- 3. what the shims refuse is marked at port time

@pytest.mark.parametrize(("call", "argument", "line_text"), [
    ("flash_attn_func(q, k, v, dropout_p=0.1)", "dropout_p=0.1", "dropout_p=0.1 is not supported"),
    ("flash_attn_func(q, k, v, causal=True, softcap=30.0)", "softcap=30.0", "softcap=30.0 is not supported"),
    ("flash_attn_func(q, k, v, window_size=(256, 0))", "window_size=(256, 0)", "window_size=(256, 0) is not"),
    ("xops.memory_efficient_attention(q, k, v, p=0.1)", "p=0.1", "p=0.1 is not supported"),
    ("xops.memory_efficient_attention(q, k, v, None, 0.1)", "0.1", "0.1 is not supported"),
    ("xops.memory_efficient_attention(q, k, v, attn_bias=BlockDiagonalMask.from_seqlens([5, 5]))",
     "xformers.ops.fmha.BlockDiagonalMask.from_seqlens", "BlockDiagonalMask.from_seqlens is not supported"),
])
def test_refused_arguments_are_marked_and_not_reported_as_swapped(tmp_path, call, argument, line_text):
    code = ("from flash_attn import flash_attn_func\nimport xformers.ops as xops\n"
            "from xformers.ops.fmha import BlockDiagonalMask\n\n\n"
            f"def attend(q, k, v):\n    return {call}\n")
    ported, report = port_file(tmp_path, code)
    marker = next(line for line in ported.splitlines() if "# porter: NRN41" in line)
    assert line_text in marker and "the shim raises at run time" in marker
    (call_row,) = rows(report, "not_swapped", 7)
    assert argument in call_row["reason"] and call_row["rule"] in ("NRN411", "NRN412")
    assert not rows(report, "swaps", 7)
    (item,) = rows(report, "manual", 7)  # one item for the site: the refused argument's, naming it
    assert item["rule"] in ("NRN415", "NRN418") and argument in item["what"] and argument in item["detail"]
    assert item["effort"] == "high" and "site not located" not in item["detail"]
    assert "| `" + str(tmp_path / "src" / "snippet.py") + ":7` |" in render_markdown(report).split("## Not swapped")[1]
    q, k, v = qkv(seq=10)
    with pytest.raises(UnsupportedArgumentError):  # the shim refuses it at run time, naming it
        run(ported)["attend"](q, k, v)


def test_a_refused_bias_built_apart_from_the_call_is_marked_where_it_is_built(tmp_path):
    code = ("from xformers.ops import fmha\n\n\ndef attend(q, k, v):\n"
            "    bias = fmha.BlockDiagonalMask.from_seqlens([5, 5])\n"
            "    return fmha.memory_efficient_attention(q, k, v, attn_bias=bias)\n")
    ported, report = port_file(tmp_path, code)
    assert "from porter.kernels.compat.xformers.ops import fmha" in ported
    assert "# porter: NRN418 xformers.ops.fmha.BlockDiagonalMask.from_seqlens is not supported" in ported
    assert rows(report, "not_swapped", 5)[0]["rule"] == "NRN418"
    with pytest.raises(UnsupportedArgumentError, match="BlockDiagonalMask"):
        run(ported)["attend"](*qkv(seq=10))


# ---------------------------------------------------------------- 4. the bias classes are swapped

@pytest.mark.parametrize("module", ["xformers.ops.fmha", "xformers.ops.fmha.attn_bias"])
def test_attn_bias_classes_are_swapped_and_fail_clearly_at_run_time(tmp_path, module):
    code = (f"from {module} import BlockDiagonalMask, LowerTriangularMask\n"
            "from xformers.ops import memory_efficient_attention\n\n\n"
            "def causal(q, k, v):\n"
            "    return memory_efficient_attention(q, k, v, attn_bias=LowerTriangularMask())\n\n\n"
            "def packed(q, k, v):\n"
            "    return memory_efficient_attention(q, k, v, attn_bias=BlockDiagonalMask.from_seqlens([5, 5]))\n")
    ported, report = port_file(tmp_path, code)
    assert f"from porter.kernels.compat.{module} import BlockDiagonalMask, LowerTriangularMask" in ported
    assert "except ImportError" not in ported
    assert [r["line"] for r in report["swaps"]] == [1, 1, 2, 6, 6]  # the call and LowerTriangularMask()
    scope = run(ported)
    q, k, v = qkv(seq=10)
    torch.testing.assert_close(scope["causal"](q, k, v), originals.memory_efficient_attention(q, k, v, causal=True),
                               atol=2e-5, rtol=2e-4)
    with pytest.raises(UnsupportedArgumentError, match="BlockDiagonalMask"):
        scope["packed"](q, k, v)


def test_a_second_port_changes_nothing(tmp_path):
    first, _ = port_file(tmp_path / "a", PARTIAL)
    second, report = port_file(tmp_path / "b", first)
    assert second == first
    assert not report["swaps"]


# ---------------------------------------------------------------- 5. what the apex optimizers and flash-attn's
# dropout-add norms refuse is marked at port time too

NORMS_AND_OPTIMIZERS = """\
from apex.optimizers import FusedAdam, FusedLAMB, FusedSGD
from flash_attn.ops.rms_norm import DropoutAddRMSNorm, dropout_add_rms_norm
from flash_attn.ops.layer_norm import DropoutAddLayerNorm, dropout_add_layer_norm


def build(params, x0, res, w, b):
    return {call}
"""


def _params_and_norm_inputs():
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 8, generator=gen))]
    x0, res = torch.randn(2, 3, 8, generator=gen), torch.randn(2, 3, 8, generator=gen)
    return params, x0, res, torch.ones(8), torch.zeros(8)


@pytest.mark.parametrize(("call", "argument", "rule"), [
    ("FusedAdam(params, lr=1e-3, amsgrad=True)", "amsgrad=True", "NRN419"),
    ("FusedAdam(params, 1e-3, True, (0.9, 0.999), 1e-8, True, 0.0, True)", "True", "NRN419"),  # amsgrad, 8th
    ("FusedAdam(params, master_weights=True)", "master_weights=True", "NRN419"),
    ("FusedLAMB(params, amsgrad=True)", "amsgrad=True", "NRN419"),
    ("FusedSGD(params, lr=0.1, momentum=0.9, wd_after_momentum=True)", "wd_after_momentum=True", "NRN419"),
    ("DropoutAddRMSNorm(8, p=0.1)(x0, res)", "p=0.1", "NRN420"),
    ("DropoutAddLayerNorm(8, False, 0.1)(x0, res)", "0.1", "NRN420"),
    ("dropout_add_rms_norm(x0, res, w, None, 0.1, 1e-5)", "0.1", "NRN420"),
    ("dropout_add_layer_norm(x0, res, w, b, dropout_p=0.1, epsilon=1e-5)", "dropout_p=0.1", "NRN420"),
])
def test_refused_optimizer_and_dropout_arguments_are_marked_and_not_swapped(tmp_path, call, argument, rule):
    ported, report = port_file(tmp_path, NORMS_AND_OPTIMIZERS.format(call=call))
    marker = next(line for line in ported.splitlines() if f"# porter: {rule}" in line)
    assert f"{argument} is not supported" in marker and "the shim raises at run time" in marker
    assert ported.count("# porter:") == 1  # the refused argument's marker only
    (call_row,) = rows(report, "not_swapped", 7)
    assert argument in call_row["reason"] and call_row["rule"] in ("NRN411", "NRN413")
    assert not rows(report, "swaps", 7)
    (item,) = rows(report, "manual", 7)
    assert item["rule"] == rule and argument in item["what"]
    assert "| `" + str(tmp_path / "src" / "snippet.py") + ":7` |" in render_markdown(report).split("## Not swapped")[1]
    with pytest.raises(UnsupportedArgumentError):  # the drop-in refuses it at run time, as the marker says
        run(ported)["build"](*_params_and_norm_inputs())
    assert port_file(tmp_path / "again", ported)[0] == ported  # the marker is never added twice


@pytest.mark.parametrize("call", [
    "FusedAdam(params, lr=1e-3, amsgrad=False, master_weights=False)",
    "FusedAdam(params, 1e-3, True, (0.9, 0.999), 1e-8, True, 0.0, False)",
    "FusedLAMB(params, amsgrad=False)",
    "FusedSGD(params, lr=0.1, momentum=0.9, wd_after_momentum=False)",
    "DropoutAddRMSNorm(8, p=0.0)(x0, res)",
    "DropoutAddLayerNorm(8, False, 0.0)(x0, res)",
    "dropout_add_rms_norm(x0, res, w, None, 0.0, 1e-5)",
    "dropout_add_layer_norm(x0, res, w, b, dropout_p=0, epsilon=1e-5)",
])
def test_optimizer_and_dropout_defaults_written_out_are_swapped_and_not_marked(tmp_path, call):
    ported, report = port_file(tmp_path, NORMS_AND_OPTIMIZERS.format(call=call))
    assert "# porter:" not in ported
    assert not report["manual"] and not report["not_swapped"]
    assert rows(report, "swaps", 7)
    run(ported)["build"](*_params_and_norm_inputs())
    again, _ = port_file(tmp_path / "again", ported)
    assert again == ported


def test_rotary_aliases_and_in_place_forms_are_swapped(tmp_path):
    code = ("import torch\n"
            "from flash_attn.layers.rotary import apply_rotary_emb_func, apply_rotary_emb_qkv_, apply_rotary_emb_kv_\n"
            "x = torch.randn(1, 4, 2, 8)\n"
            "y = apply_rotary_emb_func(x, torch.ones(4, 4), torch.zeros(4, 4))\n")
    ported, report = port_file(tmp_path, code)
    assert ("from porter.kernels.compat.flash_attn.layers.rotary import apply_rotary_emb_func, "
            "apply_rotary_emb_qkv_, apply_rotary_emb_kv_") in ported
    assert report["not_swapped"] == [] and "# porter:" not in ported
    scope = run(ported)
    torch.testing.assert_close(scope["y"], scope["x"])  # cos 1, sin 0: the identity rotation
