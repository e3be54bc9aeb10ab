"""Triton -> NKI translation, static half: kernels found, subset checked, NKI source written (no torch)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from porter.translate.triton import RULE, translate_file, translate_source
from porter.translate.triton.parse import parse_file
from porter.translate.triton.roles import BLOCK, COLS, FLOAT, NUMEL, POINTER, ROW_STRIDE, ROWS, infer_roles

FIXTURES = Path(__file__).parent / "fixtures"


def test_flat_and_row_kernels_translate_to_parseable_nki():
    for name in ("flat_ops.py", "row_ops.py"):
        ft = translate_file(FIXTURES / name)
        assert ft.kernels and all(k.translated for k in ft.kernels), [k.problem for k in ft.kernels]
        tree = ast.parse(ft.source)
        jitted = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)
                  and any(ast.unparse(d) == "nki.jit" for d in f.decorator_list)]
        assert jitted == [k.name for k in ft.kernels]
        assert "import nki\n" in ft.source and "import triton" not in ft.source
        assert ft.nki_path == FIXTURES / name.replace(".py", "_nki.py")


def test_two_dimensional_kernels_use_program_mode():
    (k,) = translate_file(FIXTURES / "matmul_ops.py").kernels
    assert k.translated and k.mode == "program"


def test_one_dimensional_kernels_use_rows_mode():
    ft = translate_file(FIXTURES / "row_ops.py")
    assert {k.mode for k in ft.kernels} == {"rows"}


def test_first_uncovered_construct_is_reported_with_rule_and_line():
    ft = translate_file(FIXTURES / "not_covered.py")
    by_name = {k.name: k for k in ft.kernels}
    atomic = by_name["column_sum_atomic_kernel"].problem
    assert atomic is not None and atomic.construct == "tl.atomic_add" and atomic.line == 11
    assert "atomics" in atomic.reason and atomic.text().startswith(f"{RULE} line 11")
    rand = by_name["dropout_kernel"].problem
    assert rand is not None and rand.construct == "tl.rand" and "random" in rand.reason
    assert ft.source is None  # nothing translated, nothing to write


def test_helper_jit_functions_are_translated_with_their_caller():
    src = '''
import triton
import triton.language as tl

@triton.jit
def _square(v):
    return v * v

@triton.jit
def kern(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, _square(tl.load(x_ptr + offs, mask=offs < n)), mask=offs < n)

kern[(1,)](None, None, 0, BLOCK=16)
'''
    ft = translate_source(src, Path("k.py"))
    kern = next(k for k in ft.kernels if k.name == "kern")
    helper = next(k for k in ft.kernels if k.name == "_square")
    assert kern.translated and kern.callees == ["_square"] and not helper.launched
    assert "def __square_program(v):" in ft.source and "__square_program(_tl.load(" in ft.source
    assert "def _square(" not in ft.source


def test_a_helper_problem_stops_its_caller():
    src = '''
import triton
import triton.language as tl

@triton.jit
def _bump(p, v):
    tl.atomic_add(p, v)

@triton.jit
def kern(x_ptr, BLOCK: tl.constexpr):
    _bump(x_ptr, 1.0)
'''
    ft = translate_source(src, Path("k.py"))
    kern = next(k for k in ft.kernels if k.name == "kern")
    assert kern.problem is not None and "in _bump" in kern.problem.reason


def test_autotune_picks_a_config_and_says_which():
    src = '''
import triton
import triton.language as tl

@triton.autotune(configs=[triton.Config({"BLOCK_M": 256, "BLOCK_N": 64}, num_warps=8),
                          triton.Config({"BLOCK_M": 64, "BLOCK_N": 64}, num_warps=4)], key=["M"])
@triton.jit
def mm(a_ptr, c_ptr, M, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    tl.store(c_ptr + rm[:, None] * BLOCK_N + rn[None, :], acc)
'''
    ft = translate_source(src, Path("k.py"))
    (k,) = ft.kernels
    assert k.mode == "program" and k.config == {"BLOCK_M": 64, "BLOCK_N": 64}
    assert "config 2 of 2" in k.config_note
    assert "MM_CONFIG = {'BLOCK_M': 64, 'BLOCK_N': 64}" in ft.source


def test_autotune_configs_built_at_run_time_are_picked_when_launched():
    src = '''
import triton
import triton.language as tl

def configs():
    return [triton.Config({"BLOCK": b}) for b in (64, 128)]

@triton.autotune(configs=configs(), key=["n"])
@triton.jit
def k(x_ptr, n, BLOCK: tl.constexpr):
    pass
'''
    ft = translate_source(src, Path("k.py"))
    (k,) = ft.kernels
    assert k.translated and k.runtime_configs and k.config is None and "built at run time" in k.config_note
    assert "_tl.host_launch(k, K_PARAMS, grid, args, kwargs, K_CONFIG, K_HEURISTICS, configs=_configs" in ft.source


def test_heuristics_are_carried_to_the_host_launcher():
    src = '''
import triton
import triton.language as tl

@triton.heuristics({"EVEN": lambda args: args["n"] % args["BLOCK"] == 0,
                    "BLOCK": lambda args: triton.next_power_of_2(args["n"])})
@triton.jit
def k(x_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)
'''
    ft = translate_source(src, Path("k.py"))
    assert "'BLOCK': lambda args: _tl.next_power_of_2(args['n'])" in ft.source
    assert "K_HEURISTICS = {" in ft.source


def test_roles_of_parameters():
    tf = parse_file(FIXTURES / "row_ops.py")
    k = next(k for k in tf.kernels if k.name == "layer_norm_row_kernel")
    r = infer_roles(tf, k).roles
    assert r["x_ptr"] == r["w_ptr"] == r["mean_ptr"] == POINTER
    assert r["stride"] == ROW_STRIDE and r["n_cols"] == COLS and r["BLOCK"] == BLOCK and r["eps"] == FLOAT
    flat = parse_file(FIXTURES / "flat_ops.py")
    k = flat.kernels[0]
    roles = infer_roles(flat, k)
    assert roles.flat and roles.roles["n"] == NUMEL and roles.roles["BLOCK"] == BLOCK
    grid = next(k for k in tf.kernels if k.name == "grid_stride_scale_kernel")
    g = infer_roles(tf, grid)
    assert g.row_loop and g.roles["n_rows"] == ROWS


def test_translation_never_imports_torch_or_triton():
    code = ("import sys; from pathlib import Path; from porter.translate.triton import translate_file; "
            f"translate_file(Path({str(FIXTURES / 'row_ops.py')!r})); "
            "assert 'torch' not in sys.modules and 'triton' not in sys.modules and 'nki' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rule_catalogue_examples_match_the_translator():
    from porter.source.catalogue import load_catalogue

    rule = load_catalogue().get(RULE)
    assert rule is not None and not rule.has_examples  # raised by the translator, so its examples are run here
    for ex in rule.valid:
        assert all(k.translated for k in translate_source(ex.code, Path("valid.py")).kernels)
    for ex in rule.invalid:
        assert any(k.problem for k in translate_source(ex.code, Path("invalid.py")).kernels)


def test_module_constants_the_kernels_read_are_carried_not_script_values():
    src = '''
import torch
import triton
import triton.language as tl

_MODE_MEAN: tl.constexpr = tl.constexpr(1)
SCALE = 2.0

@triton.jit
def k(x_ptr, n, MODE: tl.constexpr = _MODE_MEAN, BLOCK: tl.constexpr = 16):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(x_ptr + offs, x * SCALE, mask=offs < n)

x = torch.rand(16, device="cuda")
'''
    ft = translate_source(src, Path("k.py"))
    assert "_MODE_MEAN = _tl.constexpr(1)" in ft.source and "SCALE = 2.0" in ft.source
    assert "torch.rand" not in ft.source  # `x` is the kernel's own local, not the script's tensor


def test_tensor_descriptor_methods_are_not_translated():
    from porter.translate.triton.translate import translate_file

    (kt,) = translate_file(Path(__file__).parent / "fixtures" / "descriptor_ops.py").kernels
    assert not kt.translated
    assert kt.problem.construct == ".load() on a tensor descriptor" and kt.problem.line == 11


REL_PKG = FIXTURES / "rel_pkg"


def test_heuristics_functions_of_the_package_are_copied_into_the_nki_file():
    """`{'BLOCK_ROWS': rows_heuristic}` imported from a file of the package, and `next_power_of_2` imported by
    name: the functions (with what they call and the constants they read) are carried, annotations dropped."""
    ft = translate_file(REL_PKG / "row_kernels.py")
    k = next(k for k in ft.kernels if k.name == "scale_rows_2d_kernel")
    assert k.translated, k.problem
    assert "MAX_ROWS = 4" in ft.source
    assert "def _rows_for(n_rows):\n    return min(max(1, _tl.next_power_of_2(n_rows // 64)), MAX_ROWS)" in ft.source
    assert "def rows_heuristic(args):" in ft.source
    assert "'BLOCK_ROWS': rows_heuristic," in ft.source
    assert "'BLOCK_COLS': lambda args: _tl.next_power_of_2(args['n_cols'])," in ft.source
    tree = ast.parse(ft.source)
    host = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("_rows_for", "rows_heuristic")]
    namespace: dict = {"MAX_ROWS": 4, "_tl": type("tl", (), {"next_power_of_2": staticmethod(
        lambda n: 1 << max(n - 1, 0).bit_length())})}
    exec(compile(ast.Module(body=host, type_ignores=[]), "host", "exec"), namespace)
    assert namespace["rows_heuristic"]({"n_rows": 1000, "n_cols": 8}) == 4
    assert namespace["rows_heuristic"]({"n_rows": 1000, "n_cols": 80}) == 1


def test_heuristics_that_ask_the_gpu_are_refused_with_the_file_and_line():
    ft = translate_file(REL_PKG / "row_kernels.py")
    k = next(k for k in ft.kernels if k.name == "copy_tf32_kernel")
    assert not k.translated and k.problem.construct == "@triton.heuristics"
    assert k.problem.line == 27  # the lambda, in this file
    assert "reads torch (gpu.py line 9)" in k.problem.reason


def test_heuristics_names_the_nki_file_cannot_have_are_refused():
    src = '''
import triton
import triton.language as tl
from somewhere import pick_block

@triton.heuristics({"BLOCK": lambda args: pick_block(args["n"])})
@triton.jit
def k(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)
'''
    (k,) = translate_source(src, Path("k.py")).kernels
    assert not k.translated and k.problem.line == 6
    assert "calls pick_block" in k.problem.reason and "not a plain function of this file" in k.problem.reason


def test_a_call_to_a_jit_function_of_another_module_names_the_import():
    src = '''
import triton
import triton.language as tl
from .activations import fused_act

@triton.jit
def k(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(x_ptr + offs, fused_act(x), mask=offs < n)
'''
    (k,) = translate_source(src, Path("k.py")).kernels
    assert not k.translated and k.problem.line == 10 and k.problem.construct == "fused_act()"
    assert k.problem.reason == ("a function imported from .activations (line 4): calls to functions of another "
                                "module are not translated, @triton.jit or not")


def test_gathers_are_refused_where_the_address_reads_loaded_data():
    """`x_ptr += label * stride` after `label = tl.load(...)`: the translation computes addresses while tracing
    and data only on chip; it raised Unsupported when traced, now NRN430 at the load (as the docs say)."""
    src = '''
import triton
import triton.language as tl

@triton.jit
def pick_kernel(x_ptr, label_ptr, out_ptr, stride, n, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    label = tl.load(label_ptr + row)
    x_ptr += row * stride
    picked = tl.load(x_ptr + label)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(out_ptr + row * stride + offs, x - picked, mask=(offs < n) & (x > picked))
'''
    (k,) = translate_source(src, Path("k.py")).kernels
    assert not k.translated and k.problem.line == 10
    assert k.problem.construct == "tl.load through an address computed from loaded data"
    assert "gathers and scatters" in k.problem.reason
    # loaded data as values, in masks and compared with lanes is not a gather
    plain = src.replace("    picked = tl.load(x_ptr + label)\n", "    picked = label * 2.0\n")
    (k,) = translate_source(plain, Path("k.py")).kernels
    assert k.translated, k.problem
