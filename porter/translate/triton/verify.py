"""Verify Triton -> NKI translations on a CPU: the original in Triton's interpreter, the translation in porter's
NKI simulator, on the same random inputs (dynamic: imports torch, triton and the simulator when called).

Inputs are synthesised from the parameter roles (``roles.py``): several shapes (a ragged tail, more rows than
the 128 partitions, a row longer than 4096 elements) in fp32 and bf16. Every tensor argument is compared after
both runs, so outputs, in-place updates and untouched inputs all count.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .parse import Kernel, parse_file
from .roles import BLOCK, COL_STRIDE, COLS, FLAG, FLOAT, NUMEL, POINTER, ROW_STRIDE, ROWS, Roles, infer_roles
from .translate import FileTranslation, KernelTranslation, nki_path_for, translate_file

VERIFIED = "translated + verified"
FAILING = "translated, failing (not applied)"
UNCHECKED = "translated, not verified (not applied)"
NOT_TRANSLATED = "not translatable"

ROW_SHAPES = ((3, 37), (130, 300), (2, 5000))  # ragged tail; more rows than partitions; a row > 4096
MATMUL_SHAPES = ((37, 50, 70), (130, 96, 160))  # (M, N, K)
DTYPES = ("float32", "bfloat16")
TOLERANCE = {"float32": (1e-4, 1e-4), "bfloat16": (3e-2, 3e-2)}
FLAG_DEFAULTS = {"num_stages": 1, "num_warps": 4, "GROUP_SIZE_M": 4, "GROUP_M": 4}


@dataclass
class CaseResult:
    case: str
    dtype: str
    max_abs_error: float
    ok: bool
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class KernelReport:
    name: str
    line: int
    status: str
    reason: str = ""
    mode: str = ""
    config_note: str = ""
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def max_abs_error(self) -> float | None:
        errs = [c.max_abs_error for c in self.cases]
        return max(errs) if errs else None

    def as_dict(self) -> dict[str, Any]:
        return {"kernel": self.name, "line": self.line, "status": self.status, "reason": self.reason,
                "mode": self.mode, "config": self.config_note, "max_abs_error": self.max_abs_error,
                "cases": [c.__dict__ for c in self.cases]}


class _CannotSynthesise(Exception):
    pass


# ----------------------------------------------------------------------------------------- module loading

def _import_root(path: Path) -> Path:
    """The folder to put on sys.path so the file's own package imports resolve (above its last __init__.py)."""
    root = path.resolve().parent
    while (root / "__init__.py").exists():
        root = root.parent
    return root


def _load(name: str, path: Path) -> Any:
    root = str(_import_root(path))
    if root not in sys.path:
        sys.path.append(root)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be imported")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@contextlib.contextmanager
def _interpreter_shims() -> Any:
    """Make Triton's interpreter run what it otherwise refuses on a CPU (see docs/triton-to-nki.md).

    * libdevice functions are CUDA externs the interpreter cannot call: they are pointed at ``tl.math`` (or a
      composition of ``tl`` functions) while the kernel runs.
    """
    import triton.language as tl

    composed = {
        "tanh": lambda x: 2.0 * tl.sigmoid(2.0 * x) - 1.0,
        "pow": lambda x, y: tl.exp(tl.log(x) * y),
        "fast_expf": tl.exp, "fast_logf": tl.log, "rsqrt": tl.rsqrt, "sqrt": tl.sqrt, "exp": tl.exp,
        "log": tl.log, "erf": tl.erf, "exp2": tl.exp2, "log2": tl.log2, "floor": tl.floor, "ceil": tl.ceil,
        "sin": tl.sin, "cos": tl.cos, "fma": tl.fma, "div_rn": tl.div_rn, "sqrt_rn": tl.sqrt_rn,
        "log1p": lambda x: tl.log(1.0 + x), "fmax": tl.maximum, "fmin": tl.minimum, "abs": tl.abs,
        "fabs": tl.abs,
    }
    saved = []
    modules = []
    for name in ("triton.language.extra.libdevice", "triton.language.extra.cuda.libdevice"):
        with contextlib.suppress(ImportError):
            modules.append(importlib.import_module(name))
    for mod in modules:
        for fname, fn in composed.items():
            saved.append((mod, fname, getattr(mod, fname, None)))
            setattr(mod, fname, fn)
    try:
        yield
    finally:
        for mod, fname, old in saved:
            if old is None:
                with contextlib.suppress(AttributeError):
                    delattr(mod, fname)
            else:
                setattr(mod, fname, old)


def _unwrap(kernel_obj: Any, config: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """The launchable object without the autotuner (it benchmarks on a GPU), and the config it stood for."""
    extra: dict[str, Any] = {}
    obj = kernel_obj
    if type(obj).__name__ == "Autotuner":
        extra.update(config or {})
        obj = obj.fn
    return obj, extra


# ------------------------------------------------------------------------------------------ input synthesis

def _next_pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _flag_value(k: Kernel, p: str) -> Any:
    default = _param_default(k, p)
    if default is not _MISSING:
        return default
    if p in FLAG_DEFAULTS:
        return FLAG_DEFAULTS[p]
    up = p.upper()
    if up.startswith(("HAS_", "IS_", "USE_")) or up.endswith(("_ENABLED",)):
        return True
    if "ACTIVATION" in up:
        return ""
    raise _CannotSynthesise(f"no value known for the constexpr parameter {p!r}")


_MISSING = object()


def _param_default(k: Kernel, p: str) -> Any:
    import ast

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


def _row_case(k: Kernel, roles: Roles, rows: int, cols: int, dtype: Any, gen: Any, config: dict[str, Any]
              ) -> tuple[list[Any], tuple[int, ...]]:
    import torch

    values: list[Any] = []
    block_for_flat = 256
    for p in k.params:
        role = roles.roles.get(p)
        if p in config:
            values.append(config[p])
        elif role == POINTER:
            values.append(torch.randn((rows, cols), generator=gen, dtype=torch.float32).to(dtype))
        elif role == ROW_STRIDE:
            values.append(cols)
        elif role == COL_STRIDE:
            values.append(1)
        elif role == ROWS:
            values.append(rows)
        elif role == COLS:
            values.append(cols)
        elif role == NUMEL:
            values.append(rows * cols)
        elif role == BLOCK:
            if roles.flat:
                values.append(block_for_flat)
            elif p in roles.column_loop_blocks:
                values.append(128)
            else:
                values.append(_next_pow2(cols))
        elif role == FLOAT:
            values.append(1e-5 if "eps" in p.lower() else 0.5)
        elif role == FLAG:
            values.append(_flag_value(k, p))
        else:
            values.append(1)
    if roles.flat:
        block = next((v for p, v in zip(k.params, values, strict=False) if roles.roles.get(p) == BLOCK), block_for_flat)
        grid: tuple[int, ...] = (math.ceil(rows * cols / int(block)),)
    elif roles.row_loop:
        grid = (min(rows, 3),)
    else:
        grid = (rows,)
    return values, grid


def _matmul_case(k: Kernel, m: int, n: int, kk: int, dtype: Any, gen: Any, config: dict[str, Any],
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
            raise _CannotSynthesise(f"cannot tell the layout of the tensor strided by {sorted(dims.values())}")
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
                raise _CannotSynthesise(f"no strides name the layout of pointer {p!r}")
            values.append(tensors[letter])
        elif low.startswith("block") and low[-1] in "mnk":
            values.append({"m": 64, "n": 64, "k": 32}[low[-1]])
        elif p in k.constexprs:
            values.append(_flag_value(k, p))
        else:
            raise _CannotSynthesise(f"cannot tell what matmul parameter {p!r} is")
        if p in k.constexprs and low.startswith("block") and low[-1] in "mnk":
            blocks[low[-1]] = int(values[-1])
    if set(blocks) < {"m", "n"}:
        raise _CannotSynthesise("cannot find the M and N block sizes")
    gm, gn = math.ceil(m / blocks["m"]), math.ceil(n / blocks["n"])
    return values, ((gm, gn) if uses_axis1 else (gm * gn,))


# -------------------------------------------------------------------------------------------- comparison

def _compare(a: Any, b: Any, dtype: str) -> tuple[float, bool]:
    import torch

    rtol, atol = TOLERANCE[dtype]
    x, y = a.float(), b.float()
    if x.shape != y.shape:
        return math.inf, False
    nan_mismatch = bool((torch.isnan(x) != torch.isnan(y)).any())
    diff = (x - y).abs()
    diff = torch.where(torch.isnan(x) & torch.isnan(y), torch.zeros_like(diff), diff)
    inf_same = torch.isinf(x) & torch.isinf(y) & (x == y)
    diff = torch.where(inf_same, torch.zeros_like(diff), diff)
    err = float(diff.max()) if diff.numel() else 0.0
    ok = not nan_mismatch and bool((diff <= atol + rtol * y.abs().nan_to_num(0, 0, 0)).all())
    return err, ok


# ------------------------------------------------------------------------------------------ verification

def _uses_axis1(k: Kernel) -> bool:
    import ast

    for node in ast.walk(k.node):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "program_id":
            args = node.args or [kw.value for kw in node.keywords]
            if args and isinstance(args[0], ast.Constant) and args[0].value == 1:
                return True
    return False


def _verify_kernel(k: Kernel, kt: KernelTranslation, roles: Roles, orig: Any, nki_mod: Any) -> KernelReport:
    import torch

    import porter.nki

    report = KernelReport(k.name, k.line, VERIFIED, mode=kt.mode, config_note=kt.config_note)
    launch = getattr(nki_mod, f"{k.name}_launch")
    triton_obj, extra = _unwrap(getattr(orig, k.name), kt.config)
    config = dict(kt.config or {})
    gen = torch.Generator().manual_seed(0)
    shapes = MATMUL_SHAPES if kt.mode == "program" else ROW_SHAPES
    for shape in shapes:
        for dtype_name in DTYPES:
            dtype = getattr(torch, dtype_name)
            try:
                if kt.mode == "program":
                    values, grid = _matmul_case(k, *shape, dtype, gen, config, _uses_axis1(k))
                else:
                    values, grid = _row_case(k, roles, *shape, dtype, gen, config)
            except _CannotSynthesise as exc:
                report.status, report.reason = UNCHECKED, f"cannot synthesise inputs: {exc}"
                return report
            # Triton's interpreter computes bf16 arithmetic wrongly on a CPU (garbage for bf16 * float scalar):
            # the original runs on exact fp32 copies and the bf16 translation is compared within bf16 tolerance.
            args_triton = [v.float() if torch.is_tensor(v) and v.is_floating_point() else
                           (v.clone() if torch.is_tensor(v) else v) for v in values]
            args_nki = [v.clone() if torch.is_tensor(v) else v for v in values]
            names = [p for p in k.params if p not in extra]
            call_t = [v for p, v in zip(k.params, args_triton, strict=False) if p in names]
            kw_t = {p: v for p, v in zip(k.params, args_triton, strict=False) if p in extra}
            try:
                with _interpreter_shims():
                    triton_obj[grid](*call_t, **kw_t)
            except Exception as exc:  # noqa: BLE001 - the interpreter's own failure is reported, not raised
                report.status = UNCHECKED
                report.reason = f"Triton's interpreter could not run the original: {_short(exc)}"
                return report
            try:
                launch(grid, *[v for p, v in zip(k.params, args_nki, strict=False) if p in names],
                       **{p: v for p, v in zip(k.params, args_nki, strict=False) if p in extra})
            except Exception as exc:  # noqa: BLE001 - a failing translation is a verdict
                report.status = FAILING
                report.reason = f"the NKI translation raised {_short(exc)}"
                return report
            stats = porter.nki.last_run_stats()
            errs = []
            ok = True
            for a, b in zip(args_nki, args_triton, strict=False):
                if torch.is_tensor(a):
                    e, good = _compare(a, b, dtype_name)
                    errs.append(e)
                    ok = ok and good
            case = f"{'x'.join(str(s) for s in shape)}"
            report.cases.append(CaseResult(case, dtype_name, max(errs) if errs else 0.0, ok,
                                           stats.as_dict() if stats is not None else {}))
            if not ok:
                report.status = FAILING
                report.reason = f"results differ on {case} {dtype_name}: max abs error {max(errs):.3g}"
    return report


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def verify_file(path: Path, write: bool = False, kernels: list[str] | None = None) -> tuple[FileTranslation,
                                                                                           list[KernelReport]]:
    """Translate ``path`` and verify each translated kernel; with ``write`` the NKI file is written beside it."""
    os.environ["TRITON_INTERPRET"] = "1"
    import porter.nki

    porter.nki.install_simulator()
    path = Path(path)
    ft = translate_file(path)
    tf = parse_file(path)
    reports: list[KernelReport] = []
    by_name = {k.name: k for k in tf.kernels}
    if ft.source is None:
        for kt in ft.kernels:
            reports.append(_untranslated(kt))
        return ft, reports
    with tempfile.TemporaryDirectory(prefix="porter-triton-") as tmp:
        target = nki_path_for(path) if write else Path(tmp) / nki_path_for(path).name
        target.write_text(ft.source, encoding="utf-8")
        token = abs(hash((str(path), os.getpid())))
        try:
            orig = _load(f"_porter_verify_orig_{token}", path)
        except Exception as exc:  # noqa: BLE001
            for kt in ft.kernels:
                r = _untranslated(kt) if not kt.translated else KernelReport(
                    kt.name, kt.line, UNCHECKED, f"the original module failed to import: {_short(exc)}", kt.mode)
                reports.append(r)
            return ft, reports
        nki_mod = _load(f"_porter_verify_nki_{token}", target)
        for kt in ft.kernels:
            if kernels and kt.name not in kernels:
                continue
            if not kt.translated:
                reports.append(_untranslated(kt))
                continue
            if not kt.launched:
                continue
            k = by_name[kt.name]
            try:
                reports.append(_verify_kernel(k, kt, infer_roles(tf, k), orig, nki_mod))
            except Exception as exc:  # noqa: BLE001 - one kernel's crash never hides the others
                reports.append(KernelReport(kt.name, kt.line, UNCHECKED,
                                            f"verification crashed: {_short(exc)}\n{traceback.format_exc()}",
                                            kt.mode))
    return ft, reports


def _untranslated(kt: KernelTranslation) -> KernelReport:
    p = kt.problem
    reason = f"{p.construct}: {p.reason} (line {p.line}, {'NRN430'})" if p else "no launched kernel"
    return KernelReport(kt.name, kt.line, NOT_TRANSLATED, reason, kt.mode)
