"""What each parameter of a Triton kernel is for, read from how the body uses it (static, ``ast`` only).

The verifier needs to call a kernel nobody described: which parameters are pointers (a tensor each), which are
row strides, column strides, row counts, column counts or element counts, which are float scalars, and which are
``tl.constexpr`` block sizes. The answer comes from taint tracking over the kernel body: values derived from
``tl.program_id`` (or a loop over rows) are *row* values, values derived from ``tl.arange`` are *column* values,
and a parameter multiplied by one of them, compared with one of them or bounding a loop over them gets its role.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .parse import Kernel, TritonFile, qualified

POINTER = "pointer"
ROW_STRIDE = "row_stride"
COL_STRIDE = "col_stride"
ROWS = "rows"
COLS = "cols"
NUMEL = "numel"
FLOAT = "float"
BLOCK = "block"
FLAG = "flag"
UNKNOWN = "unknown"


@dataclass
class Roles:
    roles: dict[str, str]
    column_loop_blocks: set[str] = field(default_factory=set)  # constexprs used as the step of a column loop
    flat: bool = False  # offsets mix program id and arange (pid * BLOCK + arange): an elementwise flat kernel
    row_loop: bool = False
    axes: dict[int, str] = field(default_factory=dict)  # grid axis -> "row" or "block"
    axis_blocks: dict[int, str] = field(default_factory=dict)  # a "block" axis -> its block size parameter
    bounded_axes: set[int] = field(default_factory=set)  # row axes checked against a row count
    label_pointers: set[str] = field(default_factory=set)  # pointers holding column indices (`cols == label`)


class _Taint(ast.NodeVisitor):
    def __init__(self, tf: TritonFile, kernel: Kernel):
        self.tf = tf
        self.k = kernel
        self.params = set(kernel.params)
        self.taint: dict[str, set[str]] = {}  # variable -> {"pid", "lane", "ptr:<param>", "param:<p>"}
        self.roles: dict[str, str] = {}
        self.col_blocks: set[str] = set()
        self.flat = False
        self.row_loop = False
        self.value_params: set[str] = set()
        self.shape_params = _shape_params(tf, kernel)
        self.row_scaled: set[str] = set()  # parameters multiplied by a row index (row strides, or row lengths)
        self.lane_bounds: set[str] = set()  # parameters lane indices are compared with
        self.axes: dict[int, str] = {}  # grid axis -> "row" (indexes rows) or "block" (pid * BLOCK: lane blocks)
        self.axis_blocks: dict[int, str] = {}  # a "block" axis -> the block size it multiplies
        self.bounded_axes: set[int] = set()  # row axes compared with a row count or bounding a row loop
        self.label_pointers: set[str] = set()  # pointers whose loaded values are compared with column indices

    def q(self, node: ast.AST) -> str:
        return qualified(node, self.tf.aliases) or ""

    def of(self, node: ast.AST | None) -> set[str]:
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            if node.id in self.taint:
                return set(self.taint[node.id])
            if node.id in self.params:
                return {f"param:{node.id}"}
            return set()
        if isinstance(node, ast.Call):
            name = self.q(node.func).rsplit(".", 1)[-1]
            if name in ("program_id",):
                axis = node.args[0] if node.args else next((k.value for k in node.keywords), None)
                n = axis.value if isinstance(axis, ast.Constant) and isinstance(axis.value, int) else 0
                return {"pid", f"axis{n}"}
            if name == "arange":
                for a in node.args:
                    for t in self.of(a):
                        if t.startswith("param:"):
                            self.roles.setdefault(t[6:], BLOCK)
                return {"lane"}
            if name in ("load",):
                source: set[str] = set()
                for a in node.args[:1]:
                    self._address(a)
                    source |= {f"from:{t[4:]}" for t in self._ptr_tags(a)}
                return {"data"} | source  # (which pointer it came from: a label compared with columns)
            if name == "to" or (isinstance(node.func, ast.Attribute) and node.func.attr == "to"):
                base = node.func.value if isinstance(node.func, ast.Attribute) else None
                return self.of(base)
            out: set[str] = set()
            for a in [*node.args, *[k.value for k in node.keywords]]:
                out |= self.of(a)
            if isinstance(node.func, ast.Attribute) and not self.q(node.func):
                out |= self.of(node.func.value)
            if "data" in out:
                self.value_params.update(t[6:] for t in out if t.startswith("param:"))
                return {"data"}
            return out
        if isinstance(node, ast.BinOp):
            left, right = self.of(node.left), self.of(node.right)
            if "data" in left | right:  # arithmetic on loaded values: no index role for its parameters
                both = left | right
                self.value_params.update(t[6:] for t in both if t.startswith("param:"))
                return {"data"}
            if isinstance(node.op, ast.Mult):
                self._scale(left, right)
                self._scale(right, left)
                return {t for t in left | right if not t.startswith("param:")} | \
                    ({"scaled"} if (left | right) & {"pid", "lane", "row"} else set()) | \
                    {t for t in left | right if t.startswith("param:") and not (left | right) & {"pid", "lane"}}
            return left | right
        if isinstance(node, ast.Compare):
            left = self.of(node.left)
            for comp in node.comparators:
                right = self.of(comp)
                self._bound(left, right)
                self._bound(right, left)
                self._label(left, right)
                self._label(right, left)
            return {"mask"} | left
        if isinstance(node, ast.Subscript):
            return self.of(node.value)
        if isinstance(node, (ast.UnaryOp,)):
            return self.of(node.operand)
        if isinstance(node, ast.BoolOp):
            out = set()
            for v in node.values:
                out |= self.of(v)
            return out
        out = set()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                out |= self.of(child)
        return out

    def _scale(self, a: set[str], b: set[str]) -> None:
        for t in b:
            if t.startswith("param:"):
                p = t[6:]
                shape = p in self.shape_params  # a block size; any other constexpr is a compile-time value
                if ("pid" in a or "row" in a) and shape and "lane" not in a:
                    self.roles[p] = BLOCK
                    self.flat = True
                    for ax in _axes(a):
                        self.axes.setdefault(ax, "block")
                        self.axis_blocks.setdefault(ax, p)
                elif "pid" in a or "row" in a:
                    self.roles.setdefault(p, ROW_STRIDE)
                    self.row_scaled.add(p)
                    for ax in _axes(a):
                        self.axes.setdefault(ax, "row")
                elif "lane" in a:
                    if shape and "pid" not in a:
                        continue
                    self.roles.setdefault(p, COL_STRIDE)
                elif "lane_base" in a and not shape:  # `for k in range(K): x_ptr + k * stride_k`
                    self.roles.setdefault(p, COL_STRIDE)

    def _bound(self, a: set[str], b: set[str]) -> None:
        params = [t[6:] for t in b if t.startswith("param:")]
        for p in params:
            if "lane" in a:
                self.lane_bounds.add(p)
            if "lane" in a and ("pid" in a or self.flat):
                self.roles.setdefault(p, NUMEL)
            elif "lane" in a:
                self.roles.setdefault(p, COLS)
            elif "pid" in a or "row" in a:
                self.roles.setdefault(p, ROWS)
                for ax in _axes(a):
                    self.axes.setdefault(ax, "row")
                    self.bounded_axes.add(ax)

    def _label(self, a: set[str], b: set[str]) -> None:
        """`cols == idx`, `idx` loaded from a pointer: that pointer holds column indices (class labels)."""
        if "lane" in a:
            self.label_pointers.update(t[5:] for t in b if t.startswith("from:"))

    def _address(self, node: ast.AST) -> None:
        terms = _additive_terms(node)
        subtracted = {id(t) for t in _subtracted_terms(node)}
        # an address holds one pointer: once a term is known to be one (a pointer advanced earlier), a bare
        # parameter next to it is an offset (`seq_idx_ptr - stride_seq`); a subtracted term never is a pointer
        known = any(isinstance(t, ast.Name) and any(tag.startswith("ptr:") for tag in self.taint.get(t.id, ()))
                    for t in terms)
        bare = [t for t in terms if isinstance(t, ast.Name) and t.id in self.params and t.id not in self.taint
                and t.id not in self.k.constexprs and id(t) not in subtracted]  # (a constexpr is never a tensor)
        if known or len(bare) > 1:
            bare = [t for t in bare if self.roles.get(t.id) == POINTER] if known else \
                [t for t in bare if self.roles.get(t.id) in (None, POINTER)][:1] or bare[:1]
        for t in terms:
            if isinstance(t, ast.Name):
                for tag in self.of(t):
                    if tag.startswith("ptr:"):
                        self.roles[tag[4:]] = POINTER
                if any(t is b for b in bare):
                    self.roles[t.id] = POINTER
            else:
                self.of(t)

    def visit_Assign(self, node: ast.Assign) -> None:
        tags = self.of(node.value)
        ptr_tags = self._ptr_tags(node.value)
        for target in node.targets:
            for name in _names(target):
                self.taint[name] = tags | ptr_tags

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        tags = self.of(node.value)
        for name in _names(node.target):
            prev = self.taint.get(name, {f"param:{name}"} if name in self.params else set())
            if name in self.params and isinstance(node.op, ast.Add):
                prev = prev | {f"ptr:{name}"}
            self.taint[name] = prev | tags

    def _ptr_tags(self, node: ast.AST) -> set[str]:
        out = set()
        for t in _additive_terms(node):
            if isinstance(t, ast.Name):
                if t.id in self.params and t.id not in self.taint and t.id not in self.k.constexprs:
                    out.add(f"ptr:{t.id}")
                out |= {x for x in self.taint.get(t.id, set()) if x.startswith("ptr:")}
        return out

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            name = self.q(node.value.func).rsplit(".", 1)[-1]
            if name == "store" and node.value.args:
                self._address(node.value.args[0])
                for a in node.value.args[1:]:
                    self._values(a)
                for k in node.value.keywords:
                    self.of(k.value)
                return
        self.of(node.value)

    def _values(self, node: ast.AST) -> None:
        for t in self.of(node):
            if t.startswith("param:"):
                self.value_params.add(t[6:])

    def visit_For(self, node: ast.For) -> None:
        it = node.iter
        if isinstance(it, ast.Call) and it.args:
            args = [self.of(a) for a in it.args]
            start = args[0] if len(args) > 1 else set()
            stop = args[1] if len(args) > 1 else args[0]
            step = args[2] if len(args) > 2 else set()
            row_loop = bool(start & {"pid"}) or any("pid" in a for a in args)
            for name in _names(node.target):
                axes = {t for a in args for t in a if t.startswith("axis")}
                self.taint[name] = {"pid", "row", *axes} if row_loop else {"lane_base"}
                for ax in _axes(axes):
                    self.axes.setdefault(ax, "row")
                for ax in _axes(start):  # `for row in range(pid, n_rows, step)`: rows from the program id on
                    self.bounded_axes.add(ax)
            if row_loop:
                self.row_loop = True
                for t in stop:
                    if t.startswith("param:"):
                        self.roles.setdefault(t[6:], ROWS)
            else:
                for t in stop:
                    if t.startswith("param:"):
                        self.roles.setdefault(t[6:], COLS)
                for t in step:
                    if t.startswith("param:") and t[6:] in self.k.constexprs:
                        self.col_blocks.add(t[6:])
                        self.roles[t[6:]] = BLOCK
        for s in node.body:
            self.visit(s)

    def generic_visit(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.visit(child)
            elif isinstance(child, ast.expr):
                self.of(child)


_SHAPED = {"arange", "zeros", "full", "reshape", "view", "broadcast_to"}


def _shape_params(tf: TritonFile, kernel: Kernel) -> set[str]:
    """Constexpr parameters used as a block size: in ``tl.arange``, a block's shape, or a loop's step. A
    constexpr multiplied by a program id is a block offset (``pid * BLOCK``) only if it is one of these; otherwise
    it is a stride or a size fixed at compile time."""
    out: set[str] = set()
    for node in ast.walk(kernel.node):
        args: list[ast.AST] = []
        if isinstance(node, ast.Call):
            name = (qualified(node.func, tf.aliases) or "").rsplit(".", 1)[-1]
            if name in _SHAPED:
                args = [*node.args, *[kw.value for kw in node.keywords]]
            elif isinstance(node.func, ast.Name) and node.func.id == "range" or name in ("range", "static_range"):
                args = node.args[2:]
        for a in args:
            out.update(n.id for n in ast.walk(a) if isinstance(n, ast.Name) and n.id in kernel.constexprs)
    # block sizes named as such but used only through a helper's arange
    out.update(p for p in kernel.constexprs if p.upper().startswith("BLOCK") or p.upper().endswith("_BLOCK"))
    return out


def _axes(tags: set[str]) -> list[int]:
    return sorted(int(t[4:]) for t in tags if t.startswith("axis"))


def _names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in _names(e)]
    return []


def _subtracted_terms(node: ast.AST) -> list[ast.AST]:
    """The terms of ``node``'s sum that are subtracted (the whole right side of each ``-``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _subtracted_terms(node.left) + _subtracted_terms(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return _subtracted_terms(node.left) + _additive_terms(node.right)
    return []


def _additive_terms(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return _additive_terms(node.left) + _additive_terms(node.right)
    return [node]


def infer_roles(tf: TritonFile, kernel: Kernel) -> Roles:
    t = _Taint(tf, kernel)
    for stmt in kernel.node.body:
        t.visit(stmt)
    # lane offsets (arange + pid * BLOCK) make "lane" appear with pid: flat kernels
    roles = dict(t.roles)
    for p in kernel.params:
        if p in roles:
            continue
        if p in kernel.constexprs:
            roles[p] = FLAG
        elif p in t.value_params or any(p in s for s in ("eps", "scale", "alpha", "beta")):
            roles[p] = FLOAT
        else:
            roles[p] = UNKNOWN
    for p in t.value_params:
        if roles.get(p) == UNKNOWN:
            roles[p] = FLOAT
    for p in t.row_scaled & t.lane_bounds:  # `row * N + col` with `col < N`: N is the row length
        if roles.get(p) in (ROW_STRIDE, NUMEL):
            roles[p] = COLS
    # lane blocks on one axis and rows on another (a 2-D grid): the blocks cover a row, not the whole tensor
    rows_elsewhere = "row" in t.axes.values()
    if t.flat:
        for p, r in roles.items():
            if r == COLS and not rows_elsewhere:
                roles[p] = NUMEL
            elif r == NUMEL and (p in t.row_scaled or rows_elsewhere):  # `row * N + col` with `col < N`
                roles[p] = COLS
    return Roles(roles=roles, column_loop_blocks=t.col_blocks, flat=t.flat, row_loop=t.row_loop, axes=t.axes,
                 axis_blocks=t.axis_blocks, bounded_axes=t.bounded_axes,
                 label_pointers={p for p in t.label_pointers if roles.get(p) == POINTER})
