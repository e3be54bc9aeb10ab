"""Writing the NKI file of a translation: its docstring, the module constants the kernels read, each kernel's
program function, ``@nki.jit`` entry point and host-side ``<kernel>_launch``."""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .parse import Kernel, TritonFile, module_functions, parse_file, qualified

if TYPE_CHECKING:
    from .translate import KernelTranslation

RUNTIME_MODULE = "porter.translate.triton.nki_tl"
# Triton's host helpers (also usable in kernels) and their names in the runtime.
HOST_TRITON = {"cdiv": "cdiv", "next_power_of_2": "next_power_of_2"}


def dotted_name(dotted: str) -> ast.expr:
    """`a.b.c` as an expression node (Name, then Attributes)."""
    parts = dotted.split(".")
    node: ast.expr = ast.Name(parts[0], ast.Load())
    for p in parts[1:]:
        node = ast.Attribute(value=node, attr=p, ctx=ast.Load())
    return node


def program_name(name: str) -> str:
    """The plain function a kernel's body becomes (the entry point keeps the kernel's name)."""
    return f"_{name}_program"


def _heuristics_source(tf: TritonFile, k: Kernel) -> str:
    if not k.heuristics:
        return "None"
    items = []
    for name, lam in k.heuristics.items():
        node = ast.parse(lam, mode="eval").body  # a lambda, or the name of a host function copied into the file
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
        if q and q.split(".")[-1] in HOST_TRITON:
            return dotted_name(f"_tl.{HOST_TRITON[q.split('.')[-1]]}")
        if q and self.all_tl and q.startswith("triton.language."):
            return dotted_name(f"_tl.{q.rsplit('.', 1)[-1]}")
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        q = qualified(node, self.tf.aliases)  # `from triton import next_power_of_2`
        if q and q.startswith("triton.") and q.split(".")[-1] in HOST_TRITON and isinstance(node.ctx, ast.Load):
            return ast.copy_location(dotted_name(f"_tl.{HOST_TRITON[q.split('.')[-1]]}"), node)
        return node


def _without_annotations(fn: ast.FunctionDef) -> ast.FunctionDef:
    fn = copy.deepcopy(fn)
    for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs, fn.args.vararg, fn.args.kwarg]:
        if a is not None:
            a.annotation = None
    fn.returns = None
    return fn


def _free_loads(node: ast.AST) -> list[ast.Name]:
    """Names ``node`` (a lambda or function) reads that it does not bind itself."""
    bound = {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments)
             for a in [*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg] if a is not None}
    bound |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    return [n for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and n.id not in bound]


@dataclass
class HostFunction:
    """A plain function the heuristics call, defined in ``tf`` (this file, or a module of its package it imports
    the function from) as ``name``, called ``local`` where it is used."""

    tf: TritonFile
    name: str
    local: str

    def node(self) -> ast.FunctionDef:
        fn = _HostNames(self.tf).visit(_without_annotations(module_functions(self.tf.tree)[self.name]))
        fn.name = self.local
        return fn


def _module_path(path: Path, module: str | None, level: int) -> Path | None:
    """The file ``from <level dots><module> import ...`` in ``path`` reads, when it is a file of its package."""
    if level:
        base = path.resolve().parent
        for _ in range(level - 1):
            base = base.parent
    else:
        base = path.resolve().parent
        while (base / "__init__.py").exists():
            base = base.parent
    if not module and not level:
        return None
    target = base.joinpath(*(module or "").split(".")) if module else base
    for candidate in (target.with_name(target.name + ".py"), target / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_function(tf: TritonFile, name: str) -> HostFunction | None:
    """``from .utils import heuristic`` (or ``from pkg.utils import ...``): the function, read from that file."""
    for node in tf.tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        for a in node.names:
            if (a.asname or a.name) != name:
                continue
            path = _module_path(tf.path, node.module, node.level)
            if path is None:
                return None
            try:
                other = parse_file(path)
            except (OSError, SyntaxError, UnicodeDecodeError):
                return None
            if a.name in module_functions(other.tree) and a.name not in {k.name for k in other.kernels}:
                return HostFunction(other, a.name, name)
            return None
    return None


def host_functions(tf: TritonFile, k: Kernel) -> tuple[list[HostFunction], tuple[int, str] | None]:
    """The plain functions ``k``'s ``@triton.heuristics`` call (directly or through each other), defined in this
    file or imported from a file of its package, to be copied into the NKI file; or the first name they read that
    the NKI file cannot have (an import from elsewhere, a GPU query), as (line, sentence)."""
    needed: list[HostFunction] = []
    for key, root in k.heuristics_nodes.items():
        todo: list[tuple[TritonFile, ast.AST]] = [(tf, root)]
        while todo:
            where, node = todo.pop()
            at = node.lineno if where is tf else root.lineno  # the problem's line in this file
            there = "" if where is tf else f" ({where.path.name} line {node.lineno})"
            if isinstance(node, ast.Name):  # a call of (or the heuristic is) a function
                fn = _host_function(where, node.id)
                if fn is None:
                    return needed, (at, f"the @triton.heuristics value for {key!r} calls {node.id}{there}, which "
                                        "is not a plain function of this file or of a file of its package")
                same = [h for h in needed if h.local == fn.local]
                if same and (same[0].tf.path, same[0].name) != (fn.tf.path, fn.name):
                    return needed, (at, f"the @triton.heuristics functions of {k.name} use two different "
                                        f"functions named {fn.local}")
                if not same:
                    needed.append(fn)
                    todo.append((fn.tf, _without_annotations(module_functions(fn.tf.tree)[fn.name])))
                continue
            constants = _constant_names(where)
            for n in _free_loads(_HostNames(where).visit(copy.deepcopy(node))):
                if n.id == "_tl" or n.id in constants or (n.id == "math" and _imports_math(where)):
                    continue
                if n.id in module_functions(where.tree) or _imported_from(where, n.id):
                    todo.append((where, n))
                    continue
                if n.id in where.module_values or n.id in where.aliases or _is_imported(where, n.id) \
                        or not hasattr(builtins, n.id):
                    line = f" ({where.path.name} line {n.lineno})" if where is not tf else ""
                    return needed, (n.lineno if where is tf else root.lineno,
                                    f"the @triton.heuristics value for {key!r} reads {n.id}{line}, which is not a "
                                    "constant, builtin or function of its file: host code the NKI file cannot "
                                    "carry")
    return needed, None


def _host_function(tf: TritonFile, name: str) -> HostFunction | None:
    if name in {k.name for k in tf.kernels}:
        return None
    if name in module_functions(tf.tree):
        return HostFunction(tf, name, name)
    return _imported_function(tf, name)


def _constant_names(tf: TritonFile) -> set[str]:
    """Module-level names of ``tf`` whose values the NKI file can carry (literals, ``math`` of literals)."""
    probe = ast.Lambda(args=ast.arguments([], [], None, [], [], None, []),
                       body=ast.Tuple([ast.Name(n, ast.Load()) for n in tf.module_values], ast.Load()))
    return {line.split(" = ", 1)[0] for line in _module_constants(tf, [probe])}


def _imports_math(tf: TritonFile) -> bool:
    return any(isinstance(n, ast.Import) and any(a.name == "math" and not a.asname for a in n.names)
               for n in tf.tree.body)


def _imported_from(tf: TritonFile, name: str) -> bool:
    """``name`` is bound by a ``from X import name`` of the file (a function perhaps)."""
    return any(isinstance(n, ast.ImportFrom) and any((a.asname or a.name) == name for a in n.names)
               for n in tf.tree.body)


def _is_imported(tf: TritonFile, name: str) -> bool:
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name.split(".")[0]) == name
                                                                  for a in n.names) for n in ast.walk(tf.tree))


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
    uses_math = _imports_math(tf)
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


def emit(tf: TritonFile, ok: list[Kernel], bodies: dict[str, ast.FunctionDef],
         results: dict[str, KernelTranslation]) -> str:
    """The NKI module's text for the translated kernels ``ok`` (``bodies``: their rewritten program functions)."""
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
    hosts: dict[str, HostFunction] = {}
    for k in ok:
        if results[k.name].launched and not results[k.name].device:
            hosts.update({h.local: h for h in host_functions(tf, k)[0]})
    host_nodes = [h.node() for h in hosts.values()]
    heuristics = [n for k in ok for n in k.heuristics_nodes.values() if isinstance(n, ast.Lambda)]
    constants = _module_constants(tf, [bodies[k.name] for k in ok] + [k.node for k in ok] + heuristics)
    for h, fn in zip(hosts.values(), host_nodes, strict=True):  # the constants a copied function reads
        constants += [c for c in _module_constants(h.tf, [fn]) if c not in constants]
    if constants:
        lines += ["", "# Module-level values of the original file that the kernels use.", *constants, ""]
    if hosts:
        if any(n.id == "math" for fn in host_nodes for n in _free_loads(fn)):
            lines[lines.index("import nki")] = "import math\n\nimport nki"
        lines += ["", "# Host functions the kernels' @triton.heuristics call (from the original file or its package)."]
        lines += [part for fn in host_nodes for part in ("", ast.unparse(fn), "")]
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
            f'    _tl.launch({program_name(k.name)}, "{kt.mode}", _grid, {tup}{hint})',
            "",
            "",
            f"{upper}_PARAMS = {tuple(k.params)!r}",
            f"{upper}_CONFIG = {kt.config!r}",
            f"{upper}_HEURISTICS = {_heuristics_source(tf, k)}",
            "",
            "",
            f"def {k.name}_launch(grid, *args, _configs=None, _autotuner=None, **kwargs):",
            f'    """Run the NKI translation of ``{k.name}`` as ``{k.name}[grid](*args, **kwargs)`` would '
            '(``_configs``: the Autotuner\'s configurations, when they are built at run time; ``_autotuner``: the '
            'Triton kernel, whose ``best_config`` is set as a Triton launch sets it)."""',
            f"    return _tl.host_launch({k.name}, {upper}_PARAMS, grid, args, kwargs, {upper}_CONFIG, "
            f'{upper}_HEURISTICS, configs=_configs, mode="{kt.mode}", autotuner=_autotuner)',
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
