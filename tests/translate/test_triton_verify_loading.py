"""The verifier loads kernel files whose package cannot be imported whole. Needs torch and triton."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")

from pathlib import Path  # noqa: E402

from porter.translate.triton.verify import UNCHECKED, VERIFIED, verify_file  # noqa: E402

PKG = Path(__file__).parent / "fixtures" / "heavy_pkg"


def test_a_kernel_whose_package_init_fails_and_whose_file_needs_a_missing_module_still_verifies():
    """heavy_pkg/__init__.py imports a module that does not exist, the kernel file imports a helper from its own
    package (for its autotune configurations) and a module that is not installed: the verifier skips the package
    __init__, keeps the file's definitions, and Triton's interpreter still finds the kernel's source lines."""
    _, (r, neg, legacy) = verify_file(PKG / "kernels" / "scale_rows.py")
    assert r.status == VERIFIED, r.reason
    assert "{'BLOCK': 64}" in r.config_note  # the configurations the package helper kept
    # a host function whose decorator is missing is skipped; a kernel under `if <version check>:` is kept
    assert neg.name == "negate_kernel" and neg.status == VERIFIED, neg.reason
    assert legacy.status == UNCHECKED and "does not define this jit function" in legacy.reason


def test_definitions_keep_their_line_numbers():
    import ast

    from porter.translate.triton.verify_worker import _definitions_tree

    src = (PKG / "kernels" / "scale_rows.py").read_text()
    tree = _definitions_tree(src)
    kernel = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "scale_rows_kernel")
    assert src.splitlines()[kernel.lineno - 1].startswith("def scale_rows_kernel")
    compile(tree, "scale_rows.py", "exec")  # every node has a location


REL_PKG = Path(__file__).parent / "fixtures" / "rel_pkg"


def test_kernel_files_importing_their_package_relatively_verify():
    """`from .blocks import rows_heuristic` in a kernel file whose package __init__ fails: the file is loaded in its
    package (before, the relative import failed and the kernel was 'not defined'); the heuristics run on both sides."""
    _, reports = verify_file(REL_PKG / "row_kernels.py", kernels=["scale_rows_2d_kernel", "negate_kernel"])
    r = {x.name: x for x in reports}
    assert r["scale_rows_2d_kernel"].status == VERIFIED, r["scale_rows_2d_kernel"].reason
    # the grid follows the heuristics' block sizes (one row per program here), not the synthesised ones: every row
    # of the 130 x 130 case is read (it read 195 elements: 9 programs of a block neither side used)
    big = next(c for c in r["scale_rows_2d_kernel"].cases if c.case.startswith("130") and c.dtype == "float32")
    assert big.stats["hbm_to_sbuf_bytes"] == 130 * 130 * 4
    # a definition that fails when loaded (its autotune configurations ask the GPU) is named, with its error
    neg = r["negate_kernel"]
    assert neg.status == UNCHECKED
    assert neg.reason == "its definition (lines 34-38) failed when loaded here: RuntimeError: no GPU on this machine"


def test_heuristics_replace_values_the_launch_passes_as_in_triton():
    import porter.nki

    porter.nki.install_simulator()
    from porter.translate.triton.nki_tl.host import host_launch

    seen = {}

    def kernel(x, n, BLOCK, _grid):
        seen.update(x=x, n=n, BLOCK=BLOCK, grid=_grid)

    host_launch(kernel, ("x", "n", "BLOCK"), (2,), (1, 100), {"BLOCK": 7},
                heuristics={"BLOCK": lambda args: 128 if args["n"] > 64 else 64})
    assert seen == {"x": 1, "n": 100, "BLOCK": 128, "grid": (2,)}  # Triton's Heuristics.run overrides BLOCK=7


def test_an_autotuned_launch_on_neuron_sets_best_config_as_triton_does():
    """Host code reading `kernel.best_config.kwargs['BLOCK_SIZE']` after a launch (to size a partial-sum buffer)
    found no best_config when the launch had gone to the NKI translation (AttributeError on Neuron)."""
    import porter.nki

    porter.nki.install_simulator()
    import triton

    from porter.translate.triton.nki_tl.host import host_launch

    class Tuner:  # the attributes of triton's Autotuner the launch reads and sets
        configs = [triton.Config({"BLOCK": 256}), triton.Config({"BLOCK": 64})]

    tuner = Tuner()
    host_launch(lambda x, BLOCK, _grid: None, ("x", "BLOCK"), (1,), (0,), {}, configs=tuner.configs,
                mode="program", autotuner=tuner)
    assert tuner.best_config is Tuner.configs[1]  # the one program mode picks (blocks <= 128)
    from porter.rewrite.triton_translation import HELPER

    assert "_autotuner=kernel" in HELPER
