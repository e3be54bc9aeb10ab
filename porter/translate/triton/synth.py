"""Inputs for verifying a translated Triton kernel, from what each parameter does (``roles.py``).

Row kernels get every pointer as a (rows, cols) tensor; matmul-named kernels (``stride_am``, ``M``, ``N``, ``K``)
get A (M, K), B (K, N), C (M, N); other two-dimensional kernels get square buffers that hold either reading of
which size is which. torch is imported inside the functions.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from .parse import Kernel
from .roles import BLOCK, COL_STRIDE, COLS, FLAG, FLOAT, NUMEL, POINTER, ROW_STRIDE, ROWS, Roles

ROW_SHAPES = ((3, 37), (129, 160), (2, 5000))  # ragged tail; more rows than partitions; a row > 4096
MATMUL_SHAPES = ((37, 50, 70), (130, 96, 160))  # (M, N, K)
PAD_ROWS = 4
ROW_GAP = 2  # a row kernel's row stride, in row lengths
SMALL_SIZE = 3  # a constexpr that names a count (batch size, number of heads) with nothing else to go on
FLAG_DEFAULTS = {"num_stages": 1, "num_warps": 4, "GROUP_SIZE_M": 4, "GROUP_M": 4}


class CannotSynthesise(Exception):
    """The verifier cannot tell what value a parameter needs."""


# ------------------------------------------------------------------------------------------ input synthesis

def next_pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _compared_value(k: Kernel, p: str, module_values: dict[str, ast.expr]) -> Any:
    """A value ``p`` is compared with in the kernel (``if MODE == "mean"``, ``== _CASTING_MODE_LLAMA``)."""
    for node in ast.walk(k.node):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == p:
            other = node.comparators[0]
            if isinstance(other, ast.Name) and other.id in module_values:
                other = module_values[other.id]
            if isinstance(other, ast.Call) and other.args and ast.unparse(other.func).endswith("constexpr"):
                other = other.args[0]  # _MODE = tl.constexpr(0)
            try:
                return ast.literal_eval(other)
            except ValueError:
                continue
    return _MISSING


def used_as_dtype(k: Kernel, p: str) -> bool:
    for node in ast.walk(k.node):
        if isinstance(node, ast.Call):
            is_to = isinstance(node.func, ast.Attribute) and node.func.attr in ("to", "cast")
            args = list(node.args) + [kw.value for kw in node.keywords if kw.arg == "dtype"]
            if (is_to or any(kw.arg == "dtype" for kw in node.keywords)) and any(
                    isinstance(a, ast.Name) and a.id == p for a in args):
                return True
    return False


def flag_value(k: Kernel, p: str, module_values: dict[str, ast.expr] | None = None) -> Any:
    default = _param_default(k, p)
    if default is not _MISSING:
        return default
    if "ACTIVATION" in p.upper():
        return ""  # no fused activation: the plain path of the kernel
    compared = _compared_value(k, p, module_values or k.module_values)
    if compared is not _MISSING:
        return compared
    if used_as_dtype(k, p):
        import triton.language as tl

        return tl.float32
    if any(isinstance(n, (ast.If, ast.IfExp)) and (
            (isinstance(n.test, ast.Name) and n.test.id == p) or
            (isinstance(n.test, ast.UnaryOp) and isinstance(n.test.operand, ast.Name) and n.test.operand.id == p))
            for n in ast.walk(k.node)):
        return True  # a switch: `if elementwise_affine:`
    low = p.lower()
    if any(w in low for w in ("eps", "temperature", "temp", "beta", "alpha", "scale", "val")):
        return 1e-5 if "eps" in low else 0.5
    if low in ("bs", "batch", "batch_size", "m", "n") or low.startswith(("n_", "num_")) or low.endswith("_size"):
        return SMALL_SIZE
    if p in FLAG_DEFAULTS:
        return FLAG_DEFAULTS[p]
    up = p.upper()
    if up.startswith(("HAS_", "IS_", "USE_")) or up.endswith(("_ENABLED",)):
        return True
    if "ACTIVATION" in up:
        return ""
    return _value_from_use(k, p)


def _value_from_use(k: Kernel, p: str) -> Any:
    """A constexpr's value from how the body uses it, when nothing else tells: a condition is switched on, a value
    compared for equality with something computed (``label == ignore_index``) gets -100, an index no data takes;
    a block-size name 16; anything else 1 (a factor, divisor or dilation: the plain case; or unused). The
    original and the translation get the same value, so the check stays a check; it only covers that case."""
    for node in ast.walk(k.node):
        if isinstance(node, (ast.BoolOp, ast.If, ast.IfExp, ast.While)) or (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            operands = node.values if isinstance(node, ast.BoolOp) else [
                node.operand if isinstance(node, ast.UnaryOp) else node.test]
            if any(isinstance(o, ast.Name) and o.id == p for o in operands):
                return True
    for node in ast.walk(k.node):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(isinstance(x, ast.Name) and x.id == p for x in sides) and not any(
                    isinstance(x, ast.Constant) for x in sides):
                return -100
    if p.upper().startswith("BLOCK") or p.upper().endswith("_BLOCK"):
        return 16
    return 1  # (also for a parameter the body never reads: any value will do)


_MISSING = object()


def _param_default(k: Kernel, p: str) -> Any:
    args = k.node.args.args
    defaults = k.node.args.defaults
    offset = len(args) - len(defaults)
    for i, a in enumerate(args):
        if a.arg == p and i >= offset:
            try:
                return ast.literal_eval(defaults[i - offset])
            except ValueError:
                return _MISSING
    return _MISSING


def row_case(k: Kernel, roles: Roles, rows: int, cols: int, dtype: Any, gen: Any, config: dict[str, Any],
             square: bool = False) -> tuple[list[Any], tuple[int, ...]]:
    """Arguments and grid for a row kernel over a (rows, cols) problem.

    ``square``: two-dimensional kernels whose sizes cannot be told apart get every size, stride and buffer side
    set to max(rows, cols), so any reading of which size is which stays in bounds.
    """
    import torch

    side = max(rows, cols)
    if square:
        rows = cols = side
    values: list[Any] = []
    block_for_flat = 64 if square else 256
    # Rows lie ROW_GAP row lengths apart: a kernel that reads or writes past its row's columns (a gate and an
    # up projection side by side, `y_ptr + n_cols + cols`) stays inside its own row, as with its real inputs,
    # instead of overwriting the next row (which makes the result depend on the order programs run in).
    width = cols if square else ROW_GAP * cols
    sizes = {ROW_STRIDE: width, COL_STRIDE: 1, ROWS: rows, COLS: cols, NUMEL: side if square else rows * cols}
    for p in k.params:
        role = roles.roles.get(p)
        if p in config:
            values.append(config[p])
        elif role == POINTER and p in roles.label_pointers:
            # compared with column indices (`cols == label`, a one-hot): column indices, or no lane ever matches;
            # integers, as labels are (in bf16 a column past 256 would round onto its neighbours' label)
            values.append(torch.randint(0, cols, (rows * PAD_ROWS, width), generator=gen, dtype=torch.int32))
        elif role == POINTER:
            # PAD_ROWS times the rows: kernels with more index dimensions than (row, column) stay in bounds
            values.append(torch.randn((rows * PAD_ROWS, width), generator=gen, dtype=torch.float32).to(dtype))
        elif role in sizes:
            values.append(sizes[role])
        elif role == BLOCK:
            if roles.flat:
                values.append(block_for_flat)
            elif p in roles.column_loop_blocks:
                values.append(32 if square else 128)
            else:
                values.append(next_pow2(cols))
        elif role == FLOAT:
            values.append(1e-5 if "eps" in p.lower() else 0.5)
        elif role == FLAG:
            values.append(flag_value(k, p))
        else:
            values.append(1)
    # (program mode keeps one grid axis: its synthesised strides coincide across dimensions, so programs on
    # more axes write over each other's blocks)
    if max(roles.axes, default=0) > 0 and not square:
        grid = _axis_grid(k, roles, values, rows, cols, square)
    elif roles.flat:
        block = next((v for p, v in zip(k.params, values, strict=True) if roles.roles.get(p) == BLOCK
                      and p not in roles.column_loop_blocks), block_for_flat)
        total = side if square else rows * cols
        grid: tuple[int, ...] = (math.ceil(total / int(block)),)
    elif roles.row_loop:
        grid = (min(rows, 3),)
    else:
        grid = (rows,)
    return values, grid


def _axis_grid(k: Kernel, roles: Roles, values: list[Any], rows: int, cols: int, square: bool
               ) -> tuple[int, ...]:
    """The grid of a kernel using several grid axes: a row axis gets a program per row (3 when programs loop
    over rows; on axes 1 and 2 see below), a block axis (``pid * BLOCK``) enough blocks to cover a row (the whole
    tensor when no axis indexes rows), an axis used otherwise one program."""
    by_name = dict(zip(k.params, values, strict=True))
    has_rows = "row" in roles.axes.values()
    grid = []
    for axis in range(max(roles.axes) + 1):
        kind = roles.axes.get(axis)
        if kind == "row" and axis > 0:
            # rows checked against a row count: two programs (the launcher runs axes 1 and 2 one after the
            # other). An axis that only scales a stride (batch, head) gets one: synthesised strides of different
            # dimensions coincide, so more programs would write over each other's rows.
            grid.append(min(rows, 2) if axis in roles.bounded_axes else 1)
        elif kind == "row":
            grid.append(min(rows, 3) if roles.row_loop else rows)
        elif kind == "block":
            block = by_name.get(roles.axis_blocks.get(axis, ""), 256)
            extent = max(rows, cols) if square else (cols if has_rows else rows * cols)
            grid.append(math.ceil(extent / int(block)))
        else:
            grid.append(1)
    return tuple(grid)


def matmul_case(k: Kernel, m: int, n: int, kk: int, dtype: Any, gen: Any, config: dict[str, Any],
                 uses_axis1: bool) -> tuple[list[Any], tuple[int, ...]]:
    import torch

    sizes = {"m": m, "n": n, "k": kk}
    strides: dict[str, dict[str, str]] = {}  # pointer letter -> {dim: param}
    for p in k.params:
        low = p.lower()
        if low.startswith("stride_") and len(low) >= 9:
            strides.setdefault(low[7:-1], {})[low[-1]] = p
    order = {"a": "mk", "b": "kn", "c": "mn", "x": "mk", "w": "kn", "y": "mn", "out": "mn", "o": "mn"}
    stride_values: dict[str, int] = {}
    tensors: dict[str, Any] = {}
    for letter, dims in strides.items():
        layout = order.get(letter) or "".join(sorted(dims, key=lambda d: "mkn".index(d) if d in "mkn" else 3))
        if len(layout) != 2 or any(d not in sizes for d in layout):
            raise CannotSynthesise(f"cannot tell the layout of the tensor strided by {sorted(dims.values())}")
        shape = (sizes[layout[0]], sizes[layout[1]])
        stride_values[dims.get(layout[0], "")] = shape[1]
        stride_values[dims.get(layout[1], "")] = 1
        tensors[letter] = torch.randn(shape, generator=gen, dtype=torch.float32).to(dtype)
    values: list[Any] = []
    blocks: dict[str, int] = {}
    for p in k.params:
        low = p.lower()
        if p in config:
            values.append(config[p])
        elif p in ("M", "N", "K"):
            values.append(sizes[low])
        elif p in stride_values:
            values.append(stride_values[p])
        elif low.endswith("_ptr") or low in tensors:
            letter = low[:-4] if low.endswith("_ptr") else low
            if letter not in tensors:
                raise CannotSynthesise(f"no strides name the layout of pointer {p!r}")
            values.append(tensors[letter])
        elif low.startswith("block") and low[-1] in "mnk":
            values.append({"m": 64, "n": 64, "k": 32}[low[-1]])
        elif p in k.constexprs:
            values.append(flag_value(k, p))
        else:
            raise CannotSynthesise(f"cannot tell what matmul parameter {p!r} is")
        if p in k.constexprs and low.startswith("block") and low[-1] in "mnk":
            blocks[low[-1]] = int(values[-1])
    if set(blocks) < {"m", "n"}:
        raise CannotSynthesise("cannot find the M and N block sizes")
    gm, gn = math.ceil(m / blocks["m"]), math.ceil(n / blocks["n"])
    return values, ((gm, gn) if uses_axis1 else (gm * gn,))


def uses_axis1(k: Kernel) -> bool:
    for node in ast.walk(k.node):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "program_id":
            args = node.args or [kw.value for kw in node.keywords]
            if args and isinstance(args[0], ast.Constant) and args[0].value == 1:
                return True
    return False
