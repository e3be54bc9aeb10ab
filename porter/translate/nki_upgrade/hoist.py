"""Value-returning legacy `nisa` calls -> `nisa.op(dst=...)`: the result allocated first, then the
instruction writing into it (or straight into the assignment's target)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.build import kw, parse_statement
from porter.translate.nki_upgrade.isa_dst import RETURNING
from porter.translate.nki_upgrade.names import arg, call_name, code

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.isa_dst import ReturningOp
    from porter.translate.nki_upgrade.transform import Upgrader

_SIMPLE = (cst.Name, cst.Attribute, cst.Subscript)


class _IsaHoister(cst.CSTTransformer):
    """`y = nisa.op(x, ...)` -> allocate y, then `nisa.op(dst=y, ...)`; nested calls go to temps."""

    def __init__(self, up: Upgrader) -> None:
        self.up = up
        self.depth = 0

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = call_name(original, self.up.aliases) or ""
        if not name.startswith("nki.isa."):
            return updated
        op = name.rsplit(".", 1)[1]
        spec = RETURNING.get(op)
        if spec is None or arg(updated, "dst") is not None:
            return updated
        if op == "memset" and arg(updated, "shape", 0) is None:
            return updated
        return hoist(self.up, op, spec, updated)

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.BaseSmallStatement:
        return assign_of_hoisted(self.up, updated)

    def leave_AugAssign(self, original: cst.AugAssign, updated: cst.AugAssign) -> cst.BaseSmallStatement:
        return augassign_of_hoisted(self.up, original, updated)


def hoist_statement(up: Upgrader, statement: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
    """Every value-returning nisa call of one statement rewritten (new statements go to up.pending_*)."""
    return statement.visit(_IsaHoister(up))


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
        keywords.append(kw(name, a.value))
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
        if a.keyword.value != "mask" and not isinstance(
                v, (*_SIMPLE, cst.Integer, cst.Float, cst.UnaryOperation, cst.List, cst.Tuple)):
            tmp = up.temp()
            up.pending_before.append(parse_statement(f"{tmp} = {code(v)}"))
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
    new_call = call.with_changes(args=[kw("dst", cst.Name(tmp)), *[
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
    if isinstance(target, cst.Subscript) and getattr(RETURNING.get(op), "buffer", "sbuf") != "psum":
        # `view[...] = nisa.op(...)`: the instruction writes into the view itself (no temporary). Not
        # for TensorE results (PSUM): the view may be in SBUF, where the instruction would change engine.
        up.pending_before.pop(call_i)
        up.pending_before.pop(alloc_i)
        call = up.hoisted[tmp][1]
        return cst.Expr(call.with_changes(args=[kw("dst", target), *call.args[1:]]))
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
            new_call = call.with_changes(args=[kw("dst", target), *call.args[1:]])
            up._note("NRN706", "psum += nisa.nc_matmul(...) on an uninitialised tile -> nc_matmul(dst=psum)")
            return cst.Expr(new_call)
        new_call = call.with_changes(args=[kw("dst", target), *call.args[1:], kw("accumulate", cst.Name("True"))])
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
