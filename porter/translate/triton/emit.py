"""Writing the NKI file of a translation: its docstring, the module constants the kernels read, each kernel's
program function, ``@nki.jit`` entry point and host-side ``<kernel>_launch``."""

from __future__ import annotations

import ast
import contextlib
import copy
import math
from typing import TYPE_CHECKING

from .parse import Kernel, TritonFile, qualified

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
        if q and q.split(".")[-1] in HOST_TRITON:
            return dotted_name(f"_tl.{HOST_TRITON[q.split('.')[-1]]}")
        if q and self.all_tl and q.startswith("triton.language."):
            return dotted_name(f"_tl.{q.rsplit('.', 1)[-1]}")
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
            f'    _tl.launch({program_name(k.name)}, "{kt.mode}", _grid, {tup}{hint})',
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
