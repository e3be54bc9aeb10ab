"""Legacy calls and decorators: entry points (`nki.baremetal` / `benchmark` / `profile` /
`simulate_kernel` -> `nki.jit`), `nki.jit`'s dropped options, and legacy `nl` helpers rewritten or marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.build import kw, without
from porter.translate.nki_upgrade.names import arg, call_name, code, dotted, resolve

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

_REDUCTIONS = {f"nki.language.{n}" for n in ("sum", "max", "min", "mean", "prod", "var", "all", "any", "argmax")}
_COMPILER_HINT_DECORATORS = {"nki.compiler.skip_middle_end_transformations", "nki.compiler.enable_stack_allocator",
                             "nki.compiler.force_auto_alloc"}


def fix_call(up: Upgrader, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
    """One NKI call as the current API writes it (entry points, legacy helpers), or marked."""
    name = call_name(original, up.aliases)
    if name is None and isinstance(original.func, cst.Call):
        inner = call_name(original.func, up.aliases)
        if inner in ("nki.baremetal", "nki.benchmark", "nki.profile") and len(updated.args) == 1:
            # `nki.benchmark(warmup=5, iters=10)(kernel)` -> kernel
            up._note("NRN708", f"{inner}(...)(kernel) -> nki.jit(kernel)")
            if inner != "nki.baremetal":
                up._mark("NRN708", f"{inner} measured latency on hardware; the current API has no equivalent")
            return _jit_of(up, updated.args[0].value)
    if name is None:
        return updated
    if name.startswith(("nki.isa.", "nki.language.")) and up.numpy_names:
        updated = _numpy_ops(up, updated)
    short = name.rsplit(".", 1)[1]
    if name in ("nki.baremetal", "nki.benchmark", "nki.profile"):
        target = arg(updated, "kernel", 0)
        if target is not None:
            up._note("NRN708", f"nki.{short}(kernel) -> nki.jit(kernel) (NumPy arguments run it standalone)")
            if short != "baremetal":
                up._mark("NRN708", f"nki.{short} measured latency on hardware; the current API has no equivalent")
            return _jit_of(up, target.value)
        return updated
    if name == "nki.simulate_kernel":
        args = list(updated.args)
        if not args:
            return updated
        kernel = args[0].value
        rest = args[1:]
        if rest:
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        up._note("NRN708", "nki.simulate_kernel(k, *args) -> nki.simulate(k)(*args)")
        up.need_nki = True
        sim = cst.Call(func=cst.parse_expression(f"{up.nki}.simulate"), args=[cst.Arg(kernel)])
        return cst.Call(func=sim, args=rest)
    if name == "nki.jit":
        return _fix_jit(up, updated)
    if up.legacy and name == "nki.language.matmul":
        updated = _psum_operands_to_sbuf(up, updated)
    if name.startswith("nki.language.") and arg(updated, "lazy_initialization") is not None:
        up._note("NRN709", "lazy_initialization= dropped (a legacy allocation hint)")
        updated = without(updated, "lazy_initialization")
    if up.legacy and name in _REDUCTIONS and arg(updated, "keepdims") is None and arg(updated, "axis", 1):
        # Legacy reductions kept the reduced free axis (a (P, 1) tile that broadcasts along the free
        # dim); the current API drops it unless keepdims=True.
        up._note("NRN709", f"nl.{short}: legacy result shape kept with keepdims=True")
        args = list(updated.args)
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        return updated.with_changes(args=[*args, kw("keepdims", cst.Name("True"))])
    if name == "nki.language.par_dim":
        positional = [a for a in updated.args if a.keyword is None]
        if len(positional) == 1:
            up._note("NRN704", "nl.par_dim(n) -> n")
            return positional[0].value
    if name in ("nki.language.spmd_dim",):
        dims = [code(a.value) for a in updated.args if a.keyword is None]
        up._note("NRN709", "nl.spmd_dim(...) -> the product of its sizes (instances run one after another)")
        return cst.parse_expression(" * ".join(f"({d})" if " " in d else d for d in dims) or "1")
    if name == "nki.language.nc":
        positional = [a for a in updated.args if a.keyword is None]
        if len(positional) == 1:
            return positional[0].value
    if name in ("nki.compiler.sbuf.mod_alloc", "nki.compiler.sbuf.alloc", "nki.compiler.sbuf.auto_alloc"):
        up._note("NRN709", "nki.compiler.sbuf allocator -> nl.sbuf (placement is the compiler's)")
        return cst.parse_expression(f"{up.nl}.sbuf")
    if name in ("nki.compiler.psum.mod_alloc", "nki.compiler.psum.alloc", "nki.compiler.psum.auto_alloc"):
        up._note("NRN709", "nki.compiler.psum allocator -> nl.psum")
        return cst.parse_expression(f"{up.nl}.psum")
    if name == "nki.language.static_cast":
        positional = [a for a in updated.args if a.keyword is None]
        if len(positional) == 2:
            up._note("NRN709", "nl.static_cast(x, dtype) -> x.astype(dtype) (host-side NumPy)")
            x, dtype = positional[0].value, positional[1].value
            return cst.parse_expression(f"{_atom(code(x))}.astype({_np_dtype(up, dtype)})")
    if name == "nki.language.loop_reduce" and id(original) in up.loop_reduces:
        return updated  # rewritten with its assignment target (loop_reduce below)
    if name in ("nki.language.loop_reduce", "nki.language.atomic_rmw", "nki.language.all_reduce",
                "nki.language.random_seed"):
        up._mark("NRN709", f"nl.{short} has no current-NKI equivalent porter can write; rewrite by hand")
    if name == "nki.isa.iota":
        expr = arg(updated, "expr", 0)
        # An index-grid expression is translated (or marked with its reason) by grid_iota.Iota.
        if arg(updated, "dst") is None and not (expr is not None and up.scope.contains_grid(expr.value)):
            up._mark("NRN706", "legacy nisa.iota(expr, dtype): write nisa.iota(dst=..., pattern=..., offset=...)")
    return updated


# NumPy ufuncs legacy kernels passed as ALU operators, and their nki.language names.
_NP_OPS = {n: n for n in (
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "exp", "log", "tanh", "sqrt",
    "abs", "negative", "sign", "sin", "cos", "tan", "arctan", "square", "reciprocal", "equal", "not_equal",
    "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift", "mod", "fmod",
    "floor", "ceil", "trunc", "exp2", "log1p", "erf")}
_NP_OPS.update({"true_divide": "divide", "max": "maximum", "min": "minimum", "amax": "maximum",
                "amin": "minimum", "sum": "add", "prod": "multiply"})  # as reduction operators


def _numpy_ops(up: Upgrader, call: cst.Call) -> cst.Call:
    """`np.add` given as an operator to an NKI call -> `nl.add` (the current API takes nl operators)."""
    args = []
    changed = False
    for a in call.args:
        text = dotted(a.value) or ""
        root, _, attr = text.partition(".")
        if root in up.numpy_names and attr in _NP_OPS:
            a = a.with_changes(value=cst.parse_expression(f"{up.nl}.{_NP_OPS[attr]}"))
            changed = True
        args.append(a)
    if changed:
        up._note("NRN709", "NumPy ufunc operator -> nl operator")
    return call.with_changes(args=args) if changed else call


def _psum_operands_to_sbuf(up: Upgrader, call: cst.Call) -> cst.Call:
    """Legacy nl.matmul read an operand left in PSUM (by nl.transpose / nl.matmul) through a copy the
    compiler inserted; the current nl.matmul takes SBUF operands, so the copy is written out."""
    args = []
    for a in call.args:
        v = a.value
        if (a.keyword is None or a.keyword.value in ("x", "y")) and (
                (isinstance(v, cst.Name) and v.value in up.psum_names)
                or call_name(v, up.aliases) in ("nki.language.transpose", "nki.language.matmul")):
            up._note("NRN709", "PSUM operand of nl.matmul copied to SBUF (nl.copy)")
            a = a.with_changes(value=cst.parse_expression(f"{up.nl}.copy({code(v)})"))
        args.append(a)
    return call.with_changes(args=args)


def _jit_of(up: Upgrader, kernel: cst.BaseExpression) -> cst.BaseExpression:
    """`nki.jit(kernel)`: the legacy wrappers jitted a plain function; a jitted one stays itself."""
    up.need_nki = True
    return cst.Call(func=cst.parse_expression(f"{up.nki}.jit"), args=[cst.Arg(kernel)])


def _atom(text: str) -> str:
    node = cst.parse_expression(text)
    return text if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) else f"({text})"


def _np_dtype(up: Upgrader, dtype: cst.BaseExpression) -> str:
    """A dtype NumPy's astype understands: nl.bfloat16 -> ml_dtypes' bfloat16 via its name."""
    name = resolve(dtype, up.aliases)
    if name and name.startswith("nki.language."):
        return repr(name.rsplit(".", 1)[1].replace("fp32", "float32").replace("bf16", "bfloat16"))
    return code(dtype)


def _fix_jit(up: Upgrader, call: cst.Call) -> cst.BaseExpression:
    pt = arg(call, "platform_target")
    if pt is not None:
        up._mark("NRN705", f"platform_target={code(pt.value)} removed (NKI >= 0.3 rejects it); set "
                           f"NEURON_PLATFORM_TARGET_OVERRIDE={code(pt.value).strip(chr(34) + chr(39))} instead")
    if arg(call, "mode") is not None or pt is not None:
        up._note("NRN705", "nki.jit(mode=/platform_target=) dropped")
        return without(call, "mode", "platform_target")
    return call


def fix_decorators(up: Upgrader, fn: cst.FunctionDef) -> cst.FunctionDef:
    """`@nki.baremetal`, `@nki.benchmark(...)`, `@nki.jit()` with legacy options -> `@nki.jit`."""
    decorators = []
    changed = False
    for d in fn.decorators:
        expr = d.decorator
        target = expr.func if isinstance(expr, cst.Call) else expr
        name = resolve(target, up.aliases)
        if name in ("nki.baremetal", "nki.benchmark", "nki.profile", "nki.simulate_kernel"):
            up.need_nki = True
            up._note("NRN708", f"@{name} -> @nki.jit")
            if name in ("nki.benchmark", "nki.profile"):
                up._mark("NRN708", f"{name} measured latency on hardware; the current API has no equivalent")
            decorators.append(d.with_changes(decorator=cst.parse_expression(f"{up.nki}.jit")))
            changed = True
            continue
        if name in _COMPILER_HINT_DECORATORS:
            up._note("NRN709", f"@{name} dropped (a legacy compiler hint)")
            changed = True
            continue
        if name == "nki.jit" and isinstance(expr, cst.Call) and not expr.args:
            decorators.append(d.with_changes(decorator=expr.func))
            changed = True
            continue
        decorators.append(d)
    return fn.with_changes(decorators=decorators) if changed else fn
