"""Verification worker: runs in its own process (``python -m porter.translate.triton.verify_worker``).

Triton's interpreter reads and writes raw memory: an out-of-bounds access with synthesised inputs can crash the
process, so each file's kernels are verified in a child process that reports one JSON line per kernel.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from .bf16_verdict import Bf16Case, judge
from .compare import compare
from .device_check import verify_device_function
from .parse import Kernel, parse_file
from .roles import Roles, infer_roles
from .synth import MATMUL_SHAPES, ROW_SHAPES, CannotSynthesise, matmul_case, row_case, uses_axis1
from .translate import KernelTranslation, translate_file
from .verify import DTYPES, FAILING, UNCHECKED, VERIFIED, CaseResult, KernelReport, short

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
    mod.__package__ = _package_of(path)  # `from .utils import ...` resolves in the file's own package
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _package_of(path: Path) -> str:
    """The dotted package ``path`` belongs to ('' outside a package), as imported from ``_import_root``."""
    root = _import_root(path)
    return ".".join(path.resolve().parent.relative_to(root).parts)


class _SkipPackageInits(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the packages under ``root`` without running their ``__init__.py``.

    A kernel file imports helpers from its own package (``from pkg.utils.configs import autotune_configs``);
    importing ``pkg`` runs its ``__init__``, which often pulls in the whole library (CUDA extensions, optional
    dependencies). The helper module itself usually needs none of that."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        folder = self.root.joinpath(*fullname.split("."))
        if not (folder / "__init__.py").is_file():
            return None  # plain modules are found on the package's __path__ as usual
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        module.__file__ = None  # the package's __init__ is not run


@contextlib.contextmanager
def _package_inits_skipped(path: Path) -> Any:
    root = _import_root(path)
    inside = str(root) + os.sep
    for mod_name, mod in list(sys.modules.items()):  # drop what the failed import left half-initialised
        paths = getattr(mod, "__path__", None)
        paths = list(paths) if isinstance(paths, list) else []
        if str(getattr(mod, "__file__", None) or "").startswith(inside) or any(
                str(p).startswith(inside) for p in paths):
            del sys.modules[mod_name]
    finder = _SkipPackageInits(root)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def definitions_only(source: str) -> str:
    """The file without its module-level actions: imports, functions, classes and assignments (each import and
    assignment guarded: one that needs a GPU is skipped). Scripts such as tutorials run GPU code when imported;
    their kernels stay checkable."""
    return ast.unparse(_definitions_tree(source))


def _definitions_tree(source: str) -> ast.Module:
    """``definitions_only`` as a tree whose statements keep their line numbers in the original file: Triton's
    interpreter re-reads each kernel's source through those line numbers."""
    return ast.Module(body=_definitions(ast.parse(source).body), type_ignores=[])


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef,
                ast.ClassDef)


def _definitions(body: list[ast.stmt]) -> list[ast.stmt]:
    kept: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):  # `if TRITON3: @triton.jit def softplus(...)`: its definitions only
            node.body, node.orelse = _definitions(node.body), _definitions(node.orelse)
            if not node.body:
                node.body = [ast.copy_location(ast.Pass(), node)]
            kept.append(_guarded(node))
        # definitions are guarded too: a host function decorated with, or a class derived from, a name whose
        # import failed is skipped, not the whole file
        elif isinstance(node, _DEFINITIONS) and getattr(node, "value", True) is not None:
            kept.append(_guarded(node))
    return kept


_FAILED = "__porter_failed_definitions__"


def _guarded(node: ast.stmt) -> ast.stmt:
    """``try: <node> except Exception as e: <record e>``, the new nodes at ``node``'s location: a definition that
    failed is named, with its error, when a kernel it defines is missing."""
    start = min([getattr(d, "lineno", node.lineno) for d in getattr(node, "decorator_list", [])] + [node.lineno])
    record = f"globals().setdefault({_FAILED!r}, []).append(({start}, {node.end_lineno}, _porter_exc))"
    guard = ast.parse(f"try:\n    pass\nexcept Exception as _porter_exc:\n    {record}").body[0]
    guard.body = [node]
    inner = {id(m) for m in ast.walk(node)}
    for n in ast.walk(guard):
        if id(n) not in inner:
            ast.copy_location(n, node)
            n.end_lineno, n.end_col_offset = node.end_lineno, node.end_col_offset
    return guard


def _load_definitions(name: str, path: Path) -> Any:
    root = str(_import_root(path))
    if root not in sys.path:
        sys.path.append(root)
    import types

    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    mod.__package__ = _package_of(path)
    sys.modules[name] = mod
    code = compile(_definitions_tree(path.read_text(encoding="utf-8")), str(path), "exec", dont_inherit=True)
    exec(code, mod.__dict__)  # noqa: S102 - the user's own kernel definitions, as an import would run them
    return mod


@contextlib.contextmanager
def _interpreter_shims(user_module: Any = None) -> Any:
    """Make Triton's interpreter run what it otherwise refuses on a CPU (see docs/triton-to-nki.md).

    * libdevice functions are CUDA externs the interpreter cannot call: they are pointed at ``tl.math`` (or a
      composition of ``tl`` functions) while the kernel runs.
    """
    import triton.language as tl

    def lazy(name: str) -> Any:  # looked up when called: the interpreter patches tl while a kernel runs
        return lambda *a: getattr(tl, name)(*a)

    composed = {name: lazy(name) for name in (
        "rsqrt", "sqrt", "exp", "log", "erf", "exp2", "log2", "floor", "ceil", "sin", "cos", "fma", "div_rn",
        "sqrt_rn", "abs")}
    composed.update({
        "tanh": lambda x: 2.0 * tl.sigmoid(2.0 * x) - 1.0,
        "pow": lambda x, y: tl.exp(tl.log(x) * y),
        "fast_expf": lazy("exp"), "fast_logf": lazy("log"), "log1p": lambda x: tl.log(1.0 + x),
        "fmax": lazy("maximum"), "fmin": lazy("minimum"), "fabs": lazy("abs"),
    })
    saved = []
    modules = []
    # `tl.float32(x)`: Triton's compiler casts, its interpreter's dtype objects are not callable
    import triton.language.core as tl_core

    if "__call__" not in vars(tl_core.dtype):
        tl_core.dtype.__call__ = _dtype_call
        saved.append((tl_core.dtype, "__call__", None))
    if not hasattr(tl, "libdevice"):  # kernels written for Triton 2 call tl.libdevice.erf(...)
        tl.libdevice = types.SimpleNamespace(**composed)
        saved.append((tl, "libdevice", None))
    for name in ("triton.language.extra.libdevice", "triton.language.extra.cuda.libdevice"):
        with contextlib.suppress(ImportError):
            modules.append(importlib.import_module(name))
    for mod in modules:
        for fname, fn in composed.items():
            saved.append((mod, fname, getattr(mod, fname, None)))
            setattr(mod, fname, fn)
    # `from triton.language.extra.libdevice import rsqrt` binds the function in the user's module itself
    for gname, value in list(vars(user_module).items()) if user_module is not None else []:
        if "libdevice" in getattr(value, "__module__", "") and getattr(value, "__name__", "") in composed:
            saved.append((user_module, gname, value))
            setattr(user_module, gname, composed[value.__name__])
    try:
        yield
    finally:
        for mod, fname, old in saved:
            if old is None:
                with contextlib.suppress(AttributeError):
                    delattr(mod, fname)
            else:
                setattr(mod, fname, old)


def _dtype_call(self: Any, x: Any) -> Any:
    import triton.language as tl

    return tl.full((), x, self) if isinstance(x, (int, float)) else tl.cast(x, self)


class _InterpretedFloat(float):
    """A float argument with Triton's ``.to()``: kernels write ``eps.to(tl.float32)``, which Triton's compiler
    accepts for a scalar argument but its interpreter (handed a Python float) does not."""

    def to(self, *_: Any, **__: Any) -> float:
        return self


def _scalar_arg(v: Any) -> Any:
    return _InterpretedFloat(v) if type(v) is float else v


def _unwrap(kernel_obj: Any, config: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """The launchable object without the autotuner (it benchmarks on a GPU), and the config it stood for."""
    extra: dict[str, Any] = {}
    obj = kernel_obj
    if type(obj).__name__ == "Autotuner":
        extra.update(config or {})
        obj = obj.fn
    return obj, extra


# -------------------------------------------------------------------------------------------- comparison

def _verify_kernel(k: Kernel, kt: KernelTranslation, roles: Roles, orig: Any, nki_mod: Any,
                   shim_module: Any = None) -> KernelReport:
    """``shim_module``: the module whose libdevice names get shims, when not ``orig`` (a device check)."""
    import torch

    import porter.nki

    report = KernelReport(k.name, k.line, VERIFIED, mode=kt.mode, config_note=kt.config_note)
    launch = getattr(nki_mod, f"{k.name}_launch")
    original = getattr(orig, k.name)
    chosen = kt.config
    if chosen is None and kt.runtime_configs:  # configurations built at run time: read them off the Autotuner
        chosen = _pick_runtime(getattr(original, "configs", None), kt.mode)
        if chosen is None:
            report.status, report.reason = UNCHECKED, "no autotune configuration to launch with"
            return report
        report.config_note = f"autotune configuration picked at run time: {chosen}"
    triton_obj, extra = _unwrap(original, chosen)
    config = dict(chosen or {})
    gen = torch.Generator().manual_seed(0)
    shapes = MATMUL_SHAPES if kt.mode == "program" else ROW_SHAPES
    wrote = False  # did the original write any tensor? A run that writes nothing compares nothing.
    bf16_cases: list[Bf16Case] = []  # every shape's bf16 run, judged together if one fails (bf16_verdict)
    heuristics = _heuristics_of(original)

    def synthesise(shape: tuple[int, ...], cfg: dict[str, Any]) -> tuple[list[Any], tuple[int, ...]]:
        if kt.mode == "program":
            try:
                return matmul_case(k, *shape, torch.float32, gen, cfg, uses_axis1(k))
            except CannotSynthesise:
                # not a matmul's naming: 2-D blocks over one (rows, cols) problem, buffers big enough
                # for either reading of which size is which
                return row_case(k, roles, shape[0], shape[1], torch.float32, gen, cfg, square=True)
        return row_case(k, roles, *shape, torch.float32, gen, cfg)

    for shape in shapes:
        try:
            state = gen.get_state()
            values, grid = synthesise(shape, config)
            if heuristics:
                # the launch's @triton.heuristics decide those parameters on both sides: the grid and the
                # buffers are synthesised again with their values (else the grid follows a block size
                # neither side uses, and most of the tensor goes unchecked)
                decided = _heuristic_values(heuristics, dict(zip(k.params, values, strict=True)))
                if any(decided[n] != v for n, v in zip(k.params, values, strict=True) if n in decided):
                    gen.set_state(state)
                    values, grid = synthesise(shape, {**config, **decided})
        except CannotSynthesise as exc:
            report.status, report.reason = UNCHECKED, f"cannot synthesise inputs: {exc}"
            return report
        # One reference run per shape, in fp32 on values exact in bf16: both the fp32 and the bf16 translation
        # are compared with it. (Triton's interpreter computes bf16 arithmetic wrongly on a CPU, garbage for
        # bf16 * float scalar, so the original never runs in bf16 here.)
        values = [v.to(torch.bfloat16).float() if torch.is_tensor(v) and v.is_floating_point() else v
                  for v in values]
        args_triton = [v.clone() if torch.is_tensor(v) else v for v in values]

        def run_reference(args: list[Any], grid: tuple[int, ...] = grid) -> None:
            with _interpreter_shims(shim_module or orig):
                triton_obj[grid](**{p: _scalar_arg(v) for p, v in zip(k.params, args, strict=True)})

        try:
            run_reference(args_triton)
        except Exception as exc:  # noqa: BLE001 - the interpreter's own failure is reported, not raised
            report.status = UNCHECKED
            report.reason = f"Triton's interpreter could not run the original: {short(exc)}"
            return report
        wrote = wrote or _changed(values, args_triton)
        for dtype_name in DTYPES:
            dtype = getattr(torch, dtype_name)
            args_nki = [v.to(dtype, copy=True) if torch.is_tensor(v) and v.is_floating_point() else
                        (v.clone() if torch.is_tensor(v) else v) for v in values]
            try:
                launch(grid, **dict(zip(k.params, args_nki, strict=True)))
            except Exception as exc:  # noqa: BLE001 - a failing translation is a verdict
                report.status = FAILING
                report.reason = f"the NKI translation raised {short(exc)}{_traced_at(exc, nki_mod)}"
                return report
            stats = porter.nki.last_run_stats()
            errs = []
            outside = 0
            for a, b in zip(args_nki, args_triton, strict=True):
                if torch.is_tensor(a):
                    e, _, n = compare(a, b, dtype_name)
                    errs.append(e)
                    outside += n
            case = f"{'x'.join(str(s) for s in shape)}"
            report.cases.append(CaseResult(case, dtype_name, max(errs) if errs else 0.0, not outside,
                                           stats.as_dict() if stats is not None else {}))
            if dtype_name == "bfloat16":
                bf16_cases.append(Bf16Case(values, args_triton, args_nki, outside, run_reference))
    failed = [c for c in report.cases if not c.ok]
    if failed and all(c.dtype == "bfloat16" for c in failed):
        passed, found = judge(bf16_cases, gen)
        for c in failed:
            c.ok = passed
        if passed:
            report.reason = found
        else:
            report.status = FAILING
            report.reason = f"results differ on {failed[0].case} bfloat16: max abs error " \
                            f"{failed[0].max_abs_error:.3g}; {found}"
    elif failed:
        report.status = FAILING
        report.reason = f"results differ on {failed[0].case} {failed[0].dtype}: max abs error " \
                        f"{failed[0].max_abs_error:.3g}"
    if report.status == VERIFIED and not wrote:
        report.status = UNCHECKED
        report.reason = ("the original wrote none of its tensors with the synthesised inputs (every lane masked "
                         "off or every program returned early): there was nothing to compare")
    return report


_TRITON_LINES: dict[str, tuple[Path, dict[int, int]]] = {}  # NKI file -> (Triton file, its line map)


def _traced_at(exc: BaseException, nki_mod: Any) -> str:
    """Where in the Triton file the statement whose translation raised is: the innermost frame of the NKI file,
    mapped back through the translation's line map."""
    nki_file = str(getattr(nki_mod, "__file__", ""))
    if nki_file not in _TRITON_LINES:
        return ""
    path, lines = _TRITON_LINES[nki_file]
    found = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == nki_file and tb.tb_lineno in lines:
            found = lines[tb.tb_lineno]
        tb = tb.tb_next
    if found is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8").splitlines()[found - 1].strip()
    except (OSError, IndexError):
        text = ""
    return f" (at {path.name} line {found}: `{text[:100]}`)"


def _heuristics_of(kernel_obj: Any) -> dict[str, Any]:
    """The ``@triton.heuristics`` functions of a launchable (under an Autotuner or not), by parameter."""
    obj, out = kernel_obj, {}
    while obj is not None and type(obj).__name__ in ("Autotuner", "Heuristics"):
        if type(obj).__name__ == "Heuristics":
            out = {**out, **dict(obj.values)}  # the outer decorator's run first, as Triton's
        obj = getattr(obj, "fn", None)
    return out


def _heuristic_values(heuristics: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Each heuristic's value for ``args``, in order, as Triton's Heuristics.run computes them."""
    decided = {}
    for name, fn in heuristics.items():
        decided[name] = args[name] = fn(dict(args))
    return decided


def _changed(before: list[Any], after: list[Any]) -> bool:
    """Whether any tensor argument differs after the run (NaN-aware: a NaN written over a NaN is no change)."""
    import torch

    for a, b in zip(before, after, strict=True):
        if torch.is_tensor(a) and not torch.equal(a, b):
            if a.is_floating_point() and bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all()):
                continue
            return True
    return False


def _pick_runtime(configs: Any, mode: str) -> dict[str, Any] | None:
    dicts = [dict(getattr(c, "kwargs", {})) for c in configs or ()]
    for d in dicts:
        ints = [v for v in d.values() if isinstance(v, int) and not isinstance(v, bool)]
        if mode != "program" or all(v <= 128 for v in ints):
            return d
    return dicts[0] if dicts else None


def _all_unchecked(names: list[str], kts: dict[str, KernelTranslation], reason: str, status: str = UNCHECKED
                   ) -> int:
    for name in names:
        kt = kts[name]
        print(json.dumps(KernelReport(name, kt.line, status, reason, kt.mode).as_dict()), flush=True)
    return 0


def _why_undefined(module: Any, line: int) -> str:
    """Why the loaded module has no jit function defined at ``line``: the error of the definition that failed
    there (decorator arguments that ask the GPU, an import that failed), else a condition false here."""
    for start, end, exc in getattr(module, _FAILED, []):
        if start <= line <= end:
            return (f"its definition (lines {start}-{end}) failed when loaded here: {short(exc)}"
                    + _cause(exc))
    return "the module does not define this jit function when imported here (it is defined under a condition " \
           "that is false here)"


def _cause(exc: BaseException) -> str:
    """For a NameError, the failed import that should have bound the name."""
    return f" ({exc.name} was not imported: see the module's imports)" if isinstance(exc, NameError) and \
        getattr(exc, "name", None) else ""


def main(argv: list[str]) -> int:
    """argv: FILE NKI_FILE KERNEL...; prints one JSON report per kernel, in order."""
    os.environ["TRITON_INTERPRET"] = "1"
    import porter.nki

    porter.nki.install_simulator()
    path, nki_path, names = Path(argv[0]), Path(argv[1]), argv[2:]
    ft = translate_file(path)
    tf = parse_file(path)
    by_name = {k.name: k for k in tf.kernels}
    kts = {kt.name: kt for kt in ft.kernels}
    token = abs(hash((str(path), os.getpid())))
    try:
        try:
            orig = _load(f"_porter_verify_orig_{token}", path)
        except Exception:  # noqa: BLE001 - its package's __init__ may need what this machine lacks
            with _package_inits_skipped(path):
                try:
                    orig = _load(f"_porter_verify_light_{token}", path)
                except Exception:  # noqa: BLE001 - module-level code that needs a GPU: keep only the definitions
                    orig = _load_definitions(f"_porter_verify_defs_{token}", path)
    except Exception as exc:  # noqa: BLE001
        return _all_unchecked(names, kts, f"the original module failed to import: {short(exc)}")
    try:
        nki_mod = _load(f"_porter_verify_nki_{token}", nki_path)
    except Exception as exc:  # noqa: BLE001
        return _all_unchecked(names, kts, f"the NKI translation failed to import: {short(exc)}", FAILING)
    _TRITON_LINES[str(getattr(nki_mod, "__file__", nki_path))] = (path, ft.lines)
    for name in names:
        kt = kts[name]
        k = by_name[name]
        defined = getattr(orig, name, None)
        if not (hasattr(defined, "fn") or hasattr(defined, "run")):  # JITFunction, Autotuner, Heuristics
            r = KernelReport(name, kt.line, UNCHECKED, _why_undefined(orig, kt.line), kt.mode)
            print(json.dumps(r.as_dict()), flush=True)
            continue
        try:
            if kt.device:
                r = verify_device_function(k, kt, path, orig, _verify_kernel)
            else:
                r = _verify_kernel(k, kt, infer_roles(tf, k), orig, nki_mod)
        except Exception as exc:  # noqa: BLE001 - one kernel's crash never hides the others
            r = KernelReport(name, kt.line, UNCHECKED, f"verification crashed: {short(exc)}", kt.mode)
            traceback.print_exc(file=sys.stderr)
        print(json.dumps(r.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
