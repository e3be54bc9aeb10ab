"""Triton kernel source -> NKI kernel source (static: ``ast`` in, Python text out; nothing is imported or run).

Each ``@triton.jit`` function becomes a plain function whose ``tl.*`` calls go to ``nki_tl`` (Triton semantics
on NKI tiles, evaluated while the NKI kernel is traced), plus an ``@nki.jit`` entry point that runs it for every
program of the launch grid, and a host-side ``<kernel>_launch(grid, *args, **kwargs)`` that takes the arguments of
``kernel[grid](*args, **kwargs)``. The first construct outside the translated subset stops a kernel; it is
reported with rule NRN430 and the reason.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

from .parse import LIBDEVICE_MODULES, Kernel, TritonFile, parse_source, qualified

RULE = "NRN430"
RUNTIME_MODULE = "porter.translate.triton.nki_tl"
NKI_SUFFIX = "_nki"

# Largest block dimension that fits the partitions in program mode (a 2-D block's rows).
PARTITIONS = 128

_NOT_COVERED = {
    "atomic_add": "atomics", "atomic_max": "atomics", "atomic_min": "atomics", "atomic_cas": "atomics",
    "atomic_xchg": "atomics", "atomic_and": "atomics", "atomic_or": "atomics", "atomic_xor": "atomics",
    "inline_asm_elementwise": "inline PTX assembly blocks", "make_block_ptr": "block pointers",
    "advance": "block pointers", "make_tensor_descriptor": "tensor descriptors", "rand": "random numbers",
    "randn": "random numbers", "randint": "random numbers", "philox": "random numbers",
    "associative_scan": "custom associative scans", "reduce": "custom reductions", "sort": "sorts",
    "gather": "gathers (tl.gather)", "histogram": "histograms", "join": "tl.join calls", "split": "tl.split calls",
    "interleave": "tl.interleave calls", "permute": "tl.permute calls", "dot_scaled": "scaled (MX) dot products",
    "umulhi": "tl.umulhi calls", "flip": "tl.flip calls",
}
_BUILTINS_OK = {"range", "min", "max", "int", "float", "len", "isinstance", "bool", "tuple", "list", "print",
                "abs", "zip", "enumerate", "getattr", "hasattr", "str", "divmod", "pow", "round"}
_PROGRAM_MODE_CALLS = {"dot", "trans", "reshape", "expand_dims", "broadcast_to", "view"}
_DTYPES = {"float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64"}
_DESCRIPTOR_METHODS = {"load", "store", "gather", "scatter", "atomic_add", "atomic_max", "atomic_min"}
_HOST_TRITON = {"cdiv": "cdiv", "next_power_of_2": "next_power_of_2"}


def runtime_names() -> frozenset[str]:
    """The names ``nki_tl`` offers kernels: its ``__all__``, read from its source (not imported: it imports nki)."""
    src = (Path(__file__).with_name("nki_tl") / "__init__.py").read_text(encoding="utf-8")
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return frozenset(ast.literal_eval(node.value))
    raise RuntimeError("nki_tl/__init__.py has no __all__")


_RUNTIME = runtime_names()


@dataclass
class Problem:
    line: int
    construct: str
    reason: str

    def text(self) -> str:
        return f"{RULE} line {self.line}: {self.construct}: {self.reason}"


@dataclass
class KernelTranslation:
    name: str
    line: int
    mode: str = "rows"
    problem: Problem | None = None
    config: dict[str, object] | None = None
    config_note: str = ""
    callees: list[str] = field(default_factory=list)
    launched: bool = True
    runtime_configs: bool = False  # autotune configurations built at run time: picked when launched
    device: bool = False  # a device function (returns a value): no entry point; verified through a wrapper

    @property
    def translated(self) -> bool:
        return self.problem is None


@dataclass
class FileTranslation:
    path: Path
    kernels: list[KernelTranslation]
    source: str | None  # the NKI module's text; None when no kernel translated

    @property
    def nki_path(self) -> Path:
        return nki_path_for(self.path)


def nki_path_for(path: Path) -> Path:
    return path.with_name(path.stem + NKI_SUFFIX + ".py")


class _Stop(Exception):
    def __init__(self, node: ast.AST, construct: str, reason: str):
        super().__init__(reason)
        self.problem = Problem(getattr(node, "lineno", 0), construct, reason)


class _Rewrite(ast.NodeTransformer):
    """Maps one jit function's body onto ``_tl``; raises _Stop at the first construct outside the subset."""

    def __init__(self, tf: TritonFile, jit_names: set[str], params: set[str]):
        self.tf = tf
        self.jit_names = jit_names
        self.params = params
        self.program_mode = False
        self.callees: list[str] = []
        self.locals: set[str] = set(params)

    # names ------------------------------------------------------------------------------------------------
    def _tl_name(self, node: ast.AST) -> ast.AST | None:
        q = qualified(node, self.tf.aliases)
        if q is None:
            return None
        for prefix in ("triton.language.", *[m + "." for m in LIBDEVICE_MODULES]):
            if q.startswith(prefix):
                name = q[len(prefix):].split(".")[-1]
                break
        else:
            if q.startswith("triton.") and q.split(".")[-1] in _HOST_TRITON:
                name = _HOST_TRITON[q.split(".")[-1]]
            elif q in ("triton.language", *LIBDEVICE_MODULES):
                return node  # the module itself (attribute access continues below)
            else:
                raise _Stop(node, q, "not part of the Triton subset porter translates")
        if name in _NOT_COVERED:
            raise _Stop(node, f"tl.{name}", f"{_NOT_COVERED[name]} are not translated to NKI")
        if name not in _RUNTIME:
            raise _Stop(node, f"tl.{name}", "not part of the Triton subset porter translates")
        if name in _PROGRAM_MODE_CALLS:
            self.program_mode = True
        return ast.copy_location(ast.Attribute(value=ast.Name("_tl", ast.Load()), attr=name, ctx=ast.Load()), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        mapped = self._tl_name(node)
        if mapped is not None and mapped is not node:
            return mapped
        if node.attr == "T":
            self.program_mode = True
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Store):
            self.locals.add(node.id)
            return node
        mapped = self._tl_name(node)
        if mapped is not None and mapped is not node:
            return mapped
        return node

    # statements -------------------------------------------------------------------------------------------
    def visit_While(self, node: ast.While) -> ast.AST:
        raise _Stop(node, "while loop", "loops with a run-time condition are not translated (use a for loop)")

    def visit_If(self, node: ast.If) -> ast.AST:
        node = self.generic_visit(node)
        node.test = _call("_tl.cond", [node.test])
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        node = self.generic_visit(node)
        node.test = _call("_tl.cond", [node.test])
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        it = node.iter
        if isinstance(it, ast.Call):
            q = qualified(it.func, self.tf.aliases) or ""
            is_range = (isinstance(it.func, ast.Name) and it.func.id == "range" and "range" not in self.locals) or \
                q.endswith(".range") or q.endswith(".static_range")
            if is_range:
                node.target = self.visit(node.target)
                node.body = [self.visit(s) for s in node.body]
                node.orelse = [self.visit(s) for s in node.orelse]
                it.args = [self.visit(a) for a in it.args]
                it.keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in it.keywords]
                it.func = _name("_tl.range")
                return node
        return self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        raise _Stop(node, f"def {node.name}", "a function defined inside a kernel")

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        raise _Stop(node, "lambda", "a lambda inside a kernel")

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        sl = node.slice
        elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        if any(isinstance(e, ast.Constant) and e.value is None for e in elts):
            self.program_mode = True
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("to", "cast") and \
                qualified(func, self.tf.aliases) is None:
            for kw in node.keywords:
                if kw.arg == "bitcast" and not (isinstance(kw.value, ast.Constant) and not kw.value.value):
                    raise _Stop(node, ".to(bitcast=True)", "bit casts are not translated")
            value = self.visit(func.value)
            args = [self.visit(a) for a in node.args]
            kws = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords if k.arg != "bitcast"]
            return ast.copy_location(ast.Call(func=_name("_tl.cast"), args=[value, *args], keywords=kws), node)
        q = qualified(func, self.tf.aliases) or ""
        if q.startswith("triton.language.") and q.rsplit(".", 1)[-1] in _DTYPES and len(node.args) == 1:
            # `tl.float32(x)`: Triton's compiler casts x (a scalar of that type)
            return ast.copy_location(ast.Call(func=_name("_tl.cast"), args=[self.visit(node.args[0]),
                                                                             _name(f"_tl.{q.rsplit('.', 1)[-1]}")],
                                              keywords=[]), node)
        if isinstance(func, ast.Attribute) and func.attr in _DESCRIPTOR_METHODS and isinstance(func.value, ast.Name) \
                and func.value.id in self.params:
            # `desc.load([b, m, k])` on a kernel argument: a TensorDescriptor built on the host
            raise _Stop(node, f".{func.attr}() on a tensor descriptor",
                        "tensor descriptors are not translated to NKI")
        if isinstance(func, ast.Name) and func.id in self.jit_names and func.id not in self.locals:
            self.callees.append(func.id)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
            node.func = _name(_fn_name(func.id))
            return node
        if isinstance(func, ast.Name) and func.id in ("min", "max") and func.id not in self.locals \
                and not node.keywords:
            node.args = [self.visit(a) for a in node.args]
            node.func = _name(f"_tl.py{func.id}")
            return node
        if isinstance(func, ast.Name) and func.id not in self.locals and func.id not in _BUILTINS_OK \
                and func.id not in self.tf.aliases:
            raise _Stop(node, f"{func.id}()", "a call to a function that is not a @triton.jit function of this file")
        q = qualified(func, self.tf.aliases) or ""
        if q.endswith((".zeros", ".full")) and node.args:
            shape = node.args[0]
            if isinstance(shape, (ast.List, ast.Tuple)) and len(shape.elts) >= 2:
                self.program_mode = True
        return self.generic_visit(node)


def _name(dotted: str) -> ast.expr:
    parts = dotted.split(".")
    node: ast.expr = ast.Name(parts[0], ast.Load())
    for p in parts[1:]:
        node = ast.Attribute(value=node, attr=p, ctx=ast.Load())
    return node


def _call(dotted: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=_name(dotted), args=args, keywords=[])


def _fn_name(name: str) -> str:
    return f"_{name}_program"


def _strip_signature(fn: ast.FunctionDef) -> None:
    for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
        a.annotation = None
    fn.returns = None
    fn.decorator_list = []


def returns_value(fn: ast.FunctionDef) -> bool:
    """A jit function with ``return <value>`` is a device function called by kernels, not a kernel."""
    return any(isinstance(n, ast.Return) and n.value is not None and
               not (isinstance(n.value, ast.Constant) and n.value.value is None) for n in ast.walk(fn))


def _launched_names(tree: ast.Module) -> set[str]:
    """Names launched as ``name[grid](...)`` anywhere in the file."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript):
            v = node.func.value
            if isinstance(v, ast.Name):
                out.add(v.id)
            elif isinstance(v, ast.Attribute):
                out.add(v.attr)
    return out


def pick_config(kernel: Kernel, mode: str) -> tuple[dict[str, object] | None, str]:
    """The autotune configuration the translation uses, and a sentence saying which and why."""
    if kernel.configs is None:
        return None, ""
    limit = PARTITIONS if mode == "program" else None
    for i, cfg in enumerate(kernel.configs):
        ints = [v for v in cfg.values.values() if isinstance(v, int) and not isinstance(v, bool)]
        if limit is None or all(v <= limit for v in ints):
            why = "the first" if i == 0 else f"the first whose block sizes are <= {limit}"
            return dict(cfg.values), f"autotune config {i + 1} of {len(kernel.configs)} ({why}): {cfg.values}"
    cfg = kernel.configs[0]
    return dict(cfg.values), f"autotune config 1 of {len(kernel.configs)}: {cfg.values} (no config fits better)"


def translate_source(source: str, path: Path) -> FileTranslation:
    tf = parse_source(source, path)
    jit_names = {k.name for k in tf.kernels}
    launched = _launched_names(tf.tree)
    bodies: dict[str, ast.FunctionDef] = {}
    results: dict[str, KernelTranslation] = {}
    for k in tf.kernels:
        kt = KernelTranslation(name=k.name, line=k.line)
        fn = copy.deepcopy(k.node)
        _strip_signature(fn)
        rw = _Rewrite(tf, jit_names, set(k.params))
        try:
            if k.configs_problem:
                kt.runtime_configs = True  # the launcher picks from the Autotuner's own list at run time
            if k.heuristics_problem:
                raise _Stop(k.node, "@triton.heuristics", k.heuristics_problem)
            if fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs:
                raise _Stop(k.node, "signature", "a kernel with *args, **kwargs or keyword-only parameters")
            fn.body = [rw.visit(s) for s in fn.body]
        except _Stop as stop:
            kt.problem = stop.problem
        fn.name = _fn_name(k.name)
        bodies[k.name] = fn
        kt.mode = "program" if rw.program_mode else "rows"
        kt.callees = sorted(set(rw.callees))
        results[k.name] = kt

    # A kernel inherits its helpers' problems and program mode.
    changed = True
    while changed:
        changed = False
        for kt in results.values():
            for c in kt.callees:
                ct = results.get(c)
                if ct is None:
                    continue
                if ct.problem and not kt.problem:
                    kt.problem = Problem(ct.problem.line, ct.problem.construct,
                                         f"{ct.problem.reason} (in {c}, called by this kernel)")
                    changed = True
                if ct.mode == "program" and kt.mode != "program":
                    kt.mode = "program"
                    changed = True
    called = {c for kt in results.values() for c in kt.callees}
    for k in tf.kernels:
        kt = results[k.name]
        kt.launched = kt.name in launched or kt.name not in called
        kt.device = returns_value(k.node)
    for k in tf.kernels:
        kt = results[k.name]
        kt.config, kt.config_note = pick_config(k, kt.mode)
        if kt.runtime_configs:
            limit = f" whose block sizes are <= {PARTITIONS}" if kt.mode == "program" else ""
            kt.config_note = f"autotune configurations built at run time: the launcher takes the first{limit}"
    ok = [k for k in tf.kernels if results[k.name].translated]
    text = _emit(tf, ok, bodies, results) if any(results[k.name].launched for k in ok) else None
    return FileTranslation(path=path, kernels=[results[k.name] for k in tf.kernels], source=text)


def translate_file(path: Path) -> FileTranslation:
    return translate_source(path.read_text(encoding="utf-8"), path)


def _heuristics_source(tf: TritonFile, k: Kernel) -> str:
    if not k.heuristics:
        return "None"
    items = []
    for name, lam in k.heuristics.items():
        node = ast.parse(lam, mode="eval").body
        node = _HostNames(tf).visit(node)
        items.append(f"    {name!r}: {ast.unparse(node)},")
    return "{\n" + "\n".join(items) + "\n}"


class _HostNames(ast.NodeTransformer):
    """``triton.next_power_of_2`` and friends inside heuristics (with ``all_tl``, any ``tl.X``) -> ``_tl``."""

    def __init__(self, tf: TritonFile, all_tl: bool = False):
        self.tf = tf
        self.all_tl = all_tl

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        q = qualified(node, self.tf.aliases)
        if q and q.split(".")[-1] in _HOST_TRITON:
            return _name(f"_tl.{_HOST_TRITON[q.split('.')[-1]]}")
        if q and self.all_tl and q.startswith("triton.language."):
            return _name(f"_tl.{q.rsplit('.', 1)[-1]}")
        return self.generic_visit(node)


def _block_params(k: Kernel, helpers: list[ast.FunctionDef]) -> list[str]:
    """Parameters (or integer literals) that end a ``tl.arange`` in the kernel: its block sizes."""
    out: list[str] = []
    for fn in [k.node, *helpers]:
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "arange" \
                    and len(node.args) == 2:
                end = node.args[1]
                text = ast.unparse(end)
                if (isinstance(end, ast.Name) and end.id in k.params) or (isinstance(end, ast.Constant)
                                                                           and isinstance(end.value, int)):
                    if text not in out:
                        out.append(text)
    return out


def _is_constant(value: ast.expr) -> bool:
    """A literal, or ``tl.constexpr(<literal>)``."""
    if isinstance(value, ast.Call) and ast.unparse(value.func).endswith("constexpr") and len(value.args) == 1:
        value = value.args[0]
    try:
        ast.literal_eval(value)
    except ValueError:
        return False
    return True


def _module_constants(tf: TritonFile, fns: list[ast.FunctionDef]) -> list[str]:
    """Module-level constants of the original file that the kernels read (``_MODE: tl.constexpr =
    tl.constexpr(1)``), with ``tl`` mapped to the runtime, in file order. Names the kernels bind themselves
    (parameters, locals) are not module reads."""
    bound = {a.arg for fn in fns for a in fn.args.args} | {
        n.id for fn in fns for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    used = {n.id for fn in fns for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    out = []
    numbers: dict[str, float] = {}
    uses_math = any(isinstance(n, ast.Import) and any(a.name == "math" and not a.asname for a in n.names)
                    for n in tf.tree.body)
    for node in tf.tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        if name in used and name not in bound and _is_constant(value):
            mapped = _HostNames(tf, all_tl=True).visit(copy.deepcopy(value))
            out.append(f"{name} = {ast.unparse(mapped)}")
        elif name in used and name not in bound and uses_math:
            computed = _math_value(value, numbers)
            if computed is not None:
                out.append(f"{name} = {computed!r}")
        if name not in bound:
            with contextlib.suppress(ValueError, SyntaxError):
                numbers[name] = _math_value(value, numbers) if uses_math else None
                if numbers[name] is None:
                    numbers.pop(name)
    return out


_MATH_NODES = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp,
               ast.operator, ast.unaryop)


def _math_value(value: ast.expr, numbers: dict[str, float]) -> float | None:
    """A module constant computed from literals with ``math`` (``_sqrt2pi = math.sqrt(2.0 / math.pi)``), or None.

    Only names of earlier such constants and ``math.*`` are allowed, so evaluating it runs no user code."""
    tree = ast.Expression(value)
    for n in ast.walk(tree):
        if not isinstance(n, _MATH_NODES) or (isinstance(n, ast.Name) and n.id != "math" and n.id not in numbers) \
                or (isinstance(n, ast.Attribute) and not (isinstance(n.value, ast.Name) and n.value.id == "math")):
            return None
    try:
        result = eval(compile(tree, "<module constant>", "eval"),  # noqa: S307 - literals and math only
                      {"__builtins__": {}, "math": math, **numbers})
    except (ArithmeticError, TypeError, ValueError):
        return None
    return result if isinstance(result, (int, float)) and not isinstance(result, bool) else None


def _emit(tf: TritonFile, ok: list[Kernel], bodies: dict[str, ast.FunctionDef],
          results: dict[str, KernelTranslation]) -> str:
    lines = [
        f'"""NKI translations of the Triton kernels in {tf.path.name}, written by porter.',
        "",
        "Each kernel keeps the Triton kernel's name and parameters. On a Neuron device the launch site calls",
        "``<kernel>_launch(grid, *args, **kwargs)`` with the arguments of ``kernel[grid](*args, **kwargs)``; the",
        "kernel writes its outputs into the tensors it is given, like the Triton kernel. Regenerate with",
        f"``porter kernels verify {tf.path.name} --write`` rather than editing by hand.",
        "",
    ]
    for k in ok:
        kt = results[k.name]
        if not kt.launched or kt.device:
            continue
        how = ("up to 128 programs of grid axis 0 run together, one per partition" if kt.mode == "rows"
               else "one program at a time, a block's rows on the partitions")
        lines.append(f"{k.name}: {how}." + (f" Uses {kt.config_note}." if kt.config_note else ""))
    lines += ['"""', "", "import nki", "", f"from {RUNTIME_MODULE.rsplit('.', 1)[0]} import nki_tl as _tl", ""]
    constants = _module_constants(tf, [bodies[k.name] for k in ok] + [k.node for k in ok])
    if constants:
        lines += ["", "# Module-level values of the original file that the kernels use.", *constants, ""]
    for k in ok:
        lines += ["", ast.unparse(bodies[k.name]), ""]
        kt = results[k.name]
        if not kt.launched or kt.device:
            continue
        params = ", ".join(k.params)
        tup = f"({params},)" if len(k.params) == 1 else f"({params})"
        upper = k.name.upper()
        helpers = [bodies[c] for c in kt.callees if c in bodies]
        scans = any(isinstance(n, ast.Attribute) and n.attr in ("argmax", "argmin", "cumsum")
                    for fn in [bodies[k.name], *helpers] for n in ast.walk(fn))
        # a long block is split over several partitions per program, except for scans and arg-reductions
        blocks = [] if scans else _block_params(k, helpers)
        hint = f", blocks=({', '.join(blocks)},)" if blocks else ""
        lines += [
            "",
            "@nki.jit",
            f"def {k.name}({params}, _grid=(1,)):",
            f'    _tl.launch({_fn_name(k.name)}, "{kt.mode}", _grid, {tup}{hint})',
            "",
            "",
            f"{upper}_PARAMS = {tuple(k.params)!r}",
            f"{upper}_CONFIG = {kt.config!r}",
            f"{upper}_HEURISTICS = {_heuristics_source(tf, k)}",
            "",
            "",
            f"def {k.name}_launch(grid, *args, _configs=None, **kwargs):",
            f'    """Run the NKI translation of ``{k.name}`` as ``{k.name}[grid](*args, **kwargs)`` would '
            '(``_configs``: the Autotuner\'s configurations, when they are built at run time)."""',
            f"    return _tl.host_launch({k.name}, {upper}_PARAMS, grid, args, kwargs, {upper}_CONFIG, "
            f'{upper}_HEURISTICS, configs=_configs, mode="{kt.mode}")',
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
