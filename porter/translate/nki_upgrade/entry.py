"""Rewrites of single constructs: entry points, imports, value-returning nisa calls, loops, finfo."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.isa_dst import RETURNING
from porter.translate.nki_upgrade.names import arg, call_name, canonical, code, dotted, resolve

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.isa_dst import ReturningOp
    from porter.translate.nki_upgrade.transform import Upgrader

_REDUCTIONS = {f"nki.language.{n}" for n in ("sum", "max", "min", "mean", "prod", "var", "all", "any", "argmax")}
_SIMPLE = (cst.Name, cst.Attribute, cst.Subscript)
_LOOP_HELPERS = ("affine_range", "sequential_range", "static_range")


def _kw(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value=value, keyword=cst.Name(name),
                   equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                         whitespace_after=cst.SimpleWhitespace("")))


def _without(call: cst.Call, *keywords: str) -> cst.Call:
    args = [a for a in call.args if not (a.keyword is not None and a.keyword.value in keywords)]
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=args)


def _stmt(text: str) -> cst.SimpleStatementLine:
    return cst.parse_statement(text)  # type: ignore[return-value]


# -- value-returning nisa calls --------------------------------------------------------------------
def hoist(up: Upgrader, op: str, spec: ReturningOp, call: cst.Call) -> cst.BaseExpression:
    """Turn a value-returning legacy nisa call into `tmp = nl.ndarray(...)` + `nisa.op(dst=tmp, ...)`."""
    keywords: list[cst.Arg] = []
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if any(a.star for a in call.args):
        up._mark("NRN706", f"nisa.{op} returns a value in legacy NKI; pass dst= (star-arguments not mapped)")
        return call
    if len(positional) > len(spec.params):
        up._mark("NRN706", f"nisa.{op}: more positional arguments than porter knows; pass dst= by hand")
        return call
    for name, a in zip(spec.params, positional, strict=False):
        keywords.append(_kw(name, a.value))
    keywords += [a for a in call.args if a.keyword is not None]
    values = {a.keyword.value: a.value for a in keywords}
    dtype_code = code(values["dtype"]) if "dtype" in values else None
    # Operands read twice (shape, then the call) must not be re-evaluated: calls go to temps first.
    operand_codes: dict[str, str] = {}
    new_keywords = []
    for a in keywords:
        v = a.value
        if a.keyword.value in ("dtype", *spec.drop):
            continue
        if op == "memset" and a.keyword.value == "shape":
            operand_codes["shape"] = code(v)
            continue
        if not isinstance(v, (*_SIMPLE, cst.Integer, cst.Float, cst.UnaryOperation, cst.List, cst.Tuple)):
            tmp = up.temp()
            up.pending_before.append(_stmt(f"{tmp} = {code(v)}"))
            v = cst.Name(tmp)
        operand_codes[a.keyword.value] = code(v)
        new_keywords.append(a.with_changes(value=v))
    like = operand_codes.get(spec.like, "")
    if spec.shape:
        try:
            shape = spec.shape.format(**operand_codes)
        except KeyError as exc:
            up._mark("NRN706", f"nisa.{op}: argument {exc} missing; pass dst= by hand")
            return call
    else:
        shape = f"{like}.shape"
    if op == "tensor_reduce":
        up.need_reduce_helper = True
    dtype = dtype_code or spec.dtype or f"{like}.dtype"
    if op == "nc_matmul" and "is_transpose" in values and code(values["is_transpose"]) != "False":
        dtype = dtype_code or f"{operand_codes.get('moving', like)}.dtype"  # a PE transpose keeps the dtype
    if dtype.startswith("nl."):
        dtype = up.nl + dtype[2:]
    buffer = spec.buffer
    engine = values.get("engine")
    if op == "nc_transpose" and engine is not None and "vector" in code(engine):
        buffer = "sbuf"
    tmp = up.temp()
    alloc = cst.parse_expression(f"{up.nl}.ndarray({shape}, dtype={dtype}, buffer={up.nl}.{buffer})")
    if op == "memset":
        new_keywords = [k for k in new_keywords if k.keyword.value != "shape"]
    new_keywords[-1:] = [k.with_changes(comma=cst.MaybeSentinel.DEFAULT) for k in new_keywords[-1:]]
    new_call = call.with_changes(args=[_kw("dst", cst.Name(tmp)), *[
        k.with_changes(comma=cst.MaybeSentinel.DEFAULT) if False else k for k in new_keywords]])
    up.hoisted[tmp] = (alloc, new_call)
    up.pending_before.append(cst.SimpleStatementLine(body=[cst.Assign(
        targets=[cst.AssignTarget(cst.Name(tmp))], value=alloc)]))
    up.pending_before.append(cst.SimpleStatementLine(body=[cst.Expr(new_call)]))
    up._note("NRN706", f"nisa.{op} result -> dst=")
    return cst.Name(tmp)


def _rename(stmt: cst.SimpleStatementLine, old: str, new: cst.BaseExpression) -> cst.SimpleStatementLine:
    class R(cst.CSTTransformer):
        def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
            return new if updated.value == old else updated

    return stmt.visit(R())


def _take(up: Upgrader, tmp: str) -> tuple[int, int]:
    """Indexes of tmp's allocation and call in pending_before."""
    alloc_i = call_i = -1
    for i, s in enumerate(up.pending_before):
        body = s.body[0] if isinstance(s, cst.SimpleStatementLine) else None
        if isinstance(body, cst.Assign) and isinstance(body.targets[0].target, cst.Name) \
                and body.targets[0].target.value == tmp:
            alloc_i = i
        if isinstance(body, cst.Expr) and isinstance(body.value, cst.Call) and up.hoisted[tmp][1] is body.value:
            call_i = i
    return alloc_i, call_i


def assign_of_hoisted(up: Upgrader, node: cst.Assign) -> cst.BaseSmallStatement:
    """`y = <hoisted tmp>`: y is the dst itself (allocation here, the instruction after)."""
    if not (isinstance(node.value, cst.Name) and node.value.value in up.hoisted and len(node.targets) == 1):
        return node
    tmp = node.value.value
    alloc_i, call_i = _take(up, tmp)
    if alloc_i < 0 or call_i != len(up.pending_before) - 1:
        return node
    target = node.targets[0].target
    op = (call_name(up.hoisted[tmp][1], up.aliases) or "").rsplit(".", 1)[-1]
    if isinstance(target, cst.Subscript) and RETURNING[op].buffer != "psum":
        # `view[...] = nisa.op(...)`: the instruction writes into the view itself (no temporary). Not
        # for TensorE results (PSUM): the view may be in SBUF, where the instruction would change engine.
        up.pending_before.pop(call_i)
        up.pending_before.pop(alloc_i)
        call = up.hoisted[tmp][1]
        return cst.Expr(call.with_changes(args=[_kw("dst", target), *call.args[1:]]))
    if not isinstance(target, (cst.Name, cst.Attribute)):
        return node
    call_stmt = up.pending_before.pop(call_i)
    up.pending_before.pop(alloc_i)
    up.pending_after.insert(0, _rename(call_stmt, tmp, target))
    return node.with_changes(value=up.hoisted[tmp][0])


def augassign_of_hoisted(up: Upgrader, original: cst.AugAssign, node: cst.AugAssign) -> cst.BaseSmallStatement:
    """`acc += nisa.nc_matmul(a, b)` -> `nisa.nc_matmul(dst=acc, ..., accumulate=True)`."""
    if not (isinstance(node.value, cst.Name) and node.value.value in up.hoisted):
        return node
    tmp = node.value.value
    alloc_i, call_i = _take(up, tmp)
    call = up.hoisted[tmp][1]
    target = node.target
    if (isinstance(node.operator, cst.AddAssign) and call_name(call, up.aliases) == "nki.isa.nc_matmul"
            and alloc_i >= 0 and call_i == len(up.pending_before) - 1):
        up.pending_before.pop(call_i)
        up.pending_before.pop(alloc_i)
        base = target
        while isinstance(base, cst.Subscript):
            base = base.value
        if isinstance(base, cst.Name) and base.value in up.uninit[-1]:
            # `+=` onto a PSUM tile nothing initialised: the legacy accumulation group, whose first
            # matmul overwrites; nc_matmul's default (accumulate=None) is that group.
            new_call = call.with_changes(args=[_kw("dst", target), *call.args[1:]])
            up._note("NRN706", "psum += nisa.nc_matmul(...) on an uninitialised tile -> nc_matmul(dst=psum)")
            return cst.Expr(new_call)
        new_call = call.with_changes(args=[_kw("dst", target), *call.args[1:], _kw("accumulate", cst.Name("True"))])
        up._note("NRN706", "psum += nisa.nc_matmul(...) -> nc_matmul(dst=psum, accumulate=True)")
        return cst.Expr(new_call)
    ops = {cst.AddAssign: "add", cst.SubtractAssign: "subtract", cst.MultiplyAssign: "multiply"}
    name = ops.get(type(node.operator))
    if name is None:
        up._mark("NRN706", "augmented assignment of a legacy nisa result; rewrite with dst=")
        return node
    t = code(target)
    return cst.parse_statement(
        f"{up.nisa}.tensor_tensor(dst={t}, data1={t}, data2={tmp}, op={up.nl}.{name})").body[0]


# -- calls: entry points, legacy helpers ------------------------------------------------------------
def fix_call(up: Upgrader, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
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
        updated = _without(updated, "lazy_initialization")
    if up.legacy and name in _REDUCTIONS and arg(updated, "keepdims") is None and arg(updated, "axis", 1):
        # Legacy reductions kept the reduced free axis (a (P, 1) tile that broadcasts along the free
        # dim); the current API drops it unless keepdims=True.
        up._note("NRN709", f"nl.{short}: legacy result shape kept with keepdims=True")
        args = list(updated.args)
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        return updated.with_changes(args=[*args, _kw("keepdims", cst.Name("True"))])
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
        if arg(updated, "dst") is None:
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
        return _without(call, "mode", "platform_target")
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


def finfo(up: Upgrader, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
    from porter.translate.nki_upgrade.transform import _DTYPE_ALIASES, FLOAT_LIMITS

    call = original.value
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) == 1:
        text = dotted(positional[0].value) or ""
        dtype = _DTYPE_ALIASES.get(text.rsplit(".", 1)[-1])
        limit = FLOAT_LIMITS.get(dtype or "", {}).get(original.attr.value)
        if limit is not None:
            up._note("NRN709", f"nl.finfo({text}).{original.attr.value} -> literal")
            return cst.parse_expression(f"({limit})" if limit.startswith("-") else limit)
        field = original.attr.value
        if len(call.args) == 1 and field in FLOAT_LIMITS["float32"]:
            # A dtype known only when the kernel is specialised (`nl.finfo(t.dtype).min`): the same
            # table, looked up by the dtype's name at run time (an unknown dtype raises).
            up.need_finfo_helper = True
            up._note("NRN709", f"nl.finfo(<dtype>).{field} -> _porter_float_limit(<dtype>, ...)")
            dtype_arg = updated.value.args[0].value if isinstance(updated.value, cst.Call) else positional[0].value
            return cst.parse_expression(f"_porter_float_limit({code(dtype_arg)}, {field!r})")
    up._mark("NRN709", "nl.finfo is legacy API; write the limit as a literal")
    return updated


def finfo_helper() -> str:
    from porter.translate.nki_upgrade.transform import FLOAT_LIMITS

    rows = ",\n".join(
        f"    {dt!r}: {{" + ", ".join(f"{k!r}: {v}" for k, v in fields.items()) + "}"
        for dt, fields in FLOAT_LIMITS.items())
    return f'''
_PORTER_FLOAT_LIMITS = {{
{rows},
}}


def _porter_float_limit(dtype, field):
    """Legacy nl.finfo(dtype).<field> (max, min, tiny, eps) for float32, bfloat16 and float16."""
    name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1]
    if name not in _PORTER_FLOAT_LIMITS:
        raise ValueError(f"nl.finfo of {{dtype!r}}: porter knows {{', '.join(_PORTER_FLOAT_LIMITS)}}")
    return _PORTER_FLOAT_LIMITS[name][field]
'''


# -- loops --------------------------------------------------------------------------------------------
def _outside_uses(up: Upgrader, original: cst.CSTNode, names: set[str]) -> set[str]:
    """Which of `names` the enclosing function uses outside `original` (the loop)."""
    if not names or not up.functions:
        return set(names)
    used: set[str] = set()

    class V(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if node is original:
                return False
            if isinstance(node, cst.Name) and node.value in names:
                used.add(node.value)
            return True

    up.functions[-1].body.visit(V())
    return used


def dynamic_range_to_fori(up: Upgrader, original: cst.For, node: cst.For) -> cst.BaseStatement | cst.FlattenSentinel:
    """`for i in nl.dynamic_range(a, b):` -> a nested body function + `nl.fori_loop(a, b, body)`."""
    call = node.iter
    args = [a for a in call.args if a.keyword is None]
    if not isinstance(node.target, cst.Name) or node.orelse is not None or not 1 <= len(args) <= 3:
        return up.mark_node(node, "NRN703", "nl.dynamic_range was removed in NKI 0.7; rewrite as nl.fori_loop")
    assigned = _Assigned()
    node.body.visit(assigned)
    shared = _outside_uses(up, original, assigned.names)
    if shared or assigned.flow:
        why = "it rebinds " + ", ".join(sorted(shared)) if shared else "it uses break/continue/return"
        return up.mark_node(node, "NRN703",
                            f"nl.dynamic_range was removed in NKI 0.7; not rewritten as nl.fori_loop because {why}")
    lo, hi = ("0", code(args[0].value)) if len(args) == 1 else (code(args[0].value), code(args[1].value))
    step = f", step={code(args[2].value)}" if len(args) == 3 else ""
    up.temp_counter += 1
    body_name = f"_porter_loop_body{up.temp_counter}"
    fn = cst.FunctionDef(name=cst.Name(body_name), params=cst.Parameters(params=[cst.Param(node.target)]),
                         body=node.body, leading_lines=node.leading_lines)
    loop = _stmt(f"{up.nl}.fori_loop({lo}, {hi}, {body_name}{step})")
    up._note("NRN703", "for ... in nl.dynamic_range -> nl.fori_loop")
    return cst.FlattenSentinel([fn, loop])


def register_while(up: Upgrader, original: cst.While, node: cst.While) -> cst.BaseStatement | cst.FlattenSentinel:
    """`while reg:` on a VirtualRegister (0.6) -> `nl.while_loop(reg, body)` returning the register."""
    if not isinstance(node.test, cst.Name) or node.orelse is not None:
        return node
    reg = node.test.value
    finder = _RegisterAlloc(reg, up.aliases)
    # Only registers allocated with nisa.register_alloc are device conditions.
    up_module = getattr(up, "_module_for_registers", None)
    if up_module is None or not finder.is_register(up_module):
        return node
    assigned = _Assigned()
    node.body.visit(assigned)
    if assigned.flow or reg in assigned.names or _outside_uses(up, original, assigned.names):
        return up.mark_node(node, "NRN703", "`while register:` was removed in NKI 0.7; rewrite with nl.while_loop")
    up.temp_counter += 1
    body_name = f"_porter_while_body{up.temp_counter}"
    body = node.body.with_changes(body=[*node.body.body, _stmt(f"return {reg}")])
    fn = cst.FunctionDef(name=cst.Name(body_name), params=cst.Parameters(params=[cst.Param(cst.Name("_cond"))]),
                         body=body, leading_lines=node.leading_lines)
    up._note("NRN703", "while register: -> nl.while_loop")
    return cst.FlattenSentinel([fn, _stmt(f"{up.nl}.while_loop({reg}, {body_name})")])


class _RegisterAlloc:
    def __init__(self, name: str, aliases: dict[str, str]) -> None:
        self.name = name
        self.aliases = aliases

    def is_register(self, module: cst.Module) -> bool:
        found = []

        class V(cst.CSTVisitor):
            def visit_Assign(s, node: cst.Assign) -> None:  # noqa: N805
                t = node.targets[0].target
                if isinstance(t, cst.Name) and t.value == self.name and \
                        call_name(node.value, self.aliases) == "nki.isa.register_alloc":
                    found.append(1)

        module.visit(V())
        return bool(found)


class _Assigned(cst.CSTVisitor):
    """Names a loop body rebinds (a nested function would need `nonlocal`) and loop-exiting flow."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.flow = False
        self._local: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_Break(self, node: cst.Break) -> None:
        self.flow = True

    def visit_Continue(self, node: cst.Continue) -> None:
        self.flow = True

    def visit_Return(self, node: cst.Return) -> None:
        self.flow = True


# -- imports --------------------------------------------------------------------------------------------
_GONE = {"baremetal", "benchmark", "profile", "simulate_kernel"}
_COMPILER_HINT_DECORATORS = {"nki.compiler.skip_middle_end_transformations", "nki.compiler.enable_stack_allocator",
                             "nki.compiler.force_auto_alloc"}
# Legacy submodules whose names now live one level up.
_MOVED_MODULES = {"nki.isa.constants": "nki.isa", "nki.language.constants": "nki.language"}


def fix_imports(up: Upgrader, module: cst.Module) -> cst.Module:
    class Imports(cst.CSTTransformer):
        def leave_Import(self, original: cst.Import, updated: cst.Import):
            names = []
            for alias in updated.names:
                full = dotted(alias.name) or ""
                canon = canonical(full)
                if canon is not None and canon != full:
                    up._note("NRN701", f"import {full} -> import {canon}")
                    alias = alias.with_changes(name=cst.parse_expression(canon))
                if canon is not None and alias.asname is not None and alias.asname.name.value == (
                        dotted(alias.name) or ""):
                    alias = alias.with_changes(asname=None)  # `import nki as nki`
                names.append(alias)
            return updated.with_changes(names=names)

        def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
            if updated.module is None or updated.relative:
                return updated
            module_name = dotted(updated.module) or ""
            if module_name == "neuronxcc" and not isinstance(updated.names, cst.ImportStar):
                kept = [a for a in updated.names if (dotted(a.name) or "") != "nki"]
                nki_alias = [a for a in updated.names if (dotted(a.name) or "") == "nki"]
                if nki_alias and not kept:
                    up._note("NRN701", "from neuronxcc import nki -> import nki")
                    asname = nki_alias[0].asname
                    return cst.Import(names=[cst.ImportAlias(name=cst.Name("nki"), asname=asname)])
                return updated
            canon = canonical(module_name)
            canon = _MOVED_MODULES.get(canon, canon)
            if canon is None or canon == module_name and canon != "nki":
                return updated
            if isinstance(updated.names, cst.ImportStar):
                return updated.with_changes(module=cst.parse_expression(canon))
            names = list(updated.names)
            if canon == "nki":
                gone = [a for a in names if (dotted(a.name) or "") in _GONE]
                if gone:
                    up.need_nki = True
                names = [a for a in names if (dotted(a.name) or "") not in _GONE]
            if not names:
                return cst.RemoveFromParent()
            names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            if canon != module_name:
                up._note("NRN701", f"from {module_name} import ... -> from {canon} import ...")
            return updated.with_changes(module=cst.parse_expression(canon), names=names)

        def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
            text = dotted(updated)
            if text and text.startswith("neuronxcc.nki") and "neuronxcc" not in up.aliases.values():
                canon = canonical(text)
                if canon:
                    return cst.parse_expression(canon)
            return updated

    new = module.visit(Imports())
    if up.need_nki and not _binds(new, up.nki):
        new = add_import(new, f"import {up.nki}" if up.nki == "nki" else f"import nki as {up.nki}")
    return new


def _binds(module: cst.Module, name: str) -> bool:
    found = []

    class V(cst.CSTVisitor):
        def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
            bound = node.asname.name.value if node.asname else (dotted(node.name) or "").split(".")[0]
            if bound == name:
                found.append(1)

    module.visit(V())
    return bool(found)


def add_import(module: cst.Module, line: str) -> cst.Module:
    body = list(module.body)
    index = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom)):
            index = i + 1
    body.insert(index, _stmt(line))
    return module.with_changes(body=body)


def add_helper(module: cst.Module, source: str) -> cst.Module:
    body = list(module.body)
    index = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom)):
            index = i + 1
    helper = cst.parse_module(source).body
    return module.with_changes(body=[*body[:index], *helper, *body[index:]])
