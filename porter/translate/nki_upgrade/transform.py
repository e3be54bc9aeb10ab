"""The legacy -> current NKI codemod: one libcst transformer over a module.

Order inside each statement: block dimensions (lists of tiles), index grids and masks (slices),
value-returning `nisa` calls (`dst=`), then names (`nl.fp32`, loops, entry points). What cannot be
translated keeps its code and gets a marker `# porter: NRN7xx <reason>` above the statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from porter.translate.nki_upgrade import entry, grid_defs, grids, grids_ap
from porter.translate.nki_upgrade.blocks import BlockDims, parameter_blocks, whole_uses
from porter.translate.nki_upgrade.isa_dst import REDUCED_SHAPE_HELPER, RETURNING
from porter.translate.nki_upgrade.loop_reduce import loop_reduce
from porter.translate.nki_upgrade.names import Aliases, arg, call_name, code, dotted, resolve

# Marker ids: one per construct family, the same ids the lint rules report (rules/nki.toml).
LEGACY_IMPORT = "NRN701"
LOOP = "NRN702"
DYNAMIC_LOOP = "NRN703"
BLOCK_DIM = "NRN704"
PLATFORM_TARGET = "NRN705"
RETURNING_ISA = "NRN706"
GRID = "NRN707"
ENTRY = "NRN708"
LEGACY_API = "NRN709"

_PSUM_RESULTS = {"nki.language.transpose", "nki.language.matmul"}
_ALLOCATOR_VALUES = {f"nki.compiler.{b}.{f}": b for b in ("sbuf", "psum") for f in ("mod_alloc", "alloc", "auto_alloc")}
FLOAT_LIMITS = {
    "float32": {"max": "3.4028234663852886e+38", "min": "-3.4028234663852886e+38",
                "tiny": "1.1754943508222875e-38", "eps": "1.1920928955078125e-07"},
    "bfloat16": {"max": "3.3895313892515355e+38", "min": "-3.3895313892515355e+38",
                 "tiny": "1.1754943508222875e-38", "eps": "0.0078125"},
    "float16": {"max": "65504.0", "min": "-65504.0", "tiny": "6.103515625e-05", "eps": "0.0009765625"},
}
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "float32": "float32",
                  "bfloat16": "bfloat16", "float16": "float16"}


@dataclass
class Change:
    line: int
    rule: str
    text: str


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)
    markers: list[Change] = field(default_factory=list)


class Upgrader(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, aliases: dict[str, str], nl_name: str, nisa_name: str, nki_name: str,
                 legacy: bool = False) -> None:
        super().__init__()
        self.legacy = legacy
        self.numpy_names: set[str] = set()
        self.interesting: set[str] = set()
        self.has_par_dim = True
        self.call_funcs: set[int] = set()
        self.psum_names: set[str] = set()  # tiles a legacy nl.transpose / nl.matmul left in PSUM
        self.psum_allocs: set[str] = set()  # tiles allocated with buffer=nl.psum
        self.aliases = aliases
        self.nl = nl_name
        self.nisa = nisa_name
        self.nki = nki_name
        self.report = Report()
        self.scopes: list[grids.GridScope] = [grids.GridScope(aliases)]
        self.tiles: list[set[str]] = [set()]
        self.uninit: list[set[str]] = [set()]  # tiles allocated by nl.ndarray (no initial value)
        self.param_blocks: dict[str, dict[str, int]] = {}  # helper parameters receiving block-dim tiles
        self.loop_reduces: set[int] = set()  # `t = nl.loop_reduce(...)` calls (rewritten with their target)
        self.blocks: list[BlockDims] = [BlockDims(aliases)]
        self.pending_markers: list[tuple[str, str]] = []
        self.pending_before: list[cst.BaseStatement] = []
        self.pending_after: list[cst.BaseStatement] = []
        self.hoisted: dict[str, tuple[cst.BaseExpression, cst.Call]] = {}
        self.temp_counter = 0
        self.need_reduce_helper = False
        self.need_finfo_helper = False
        self.need_nki = False
        self.grid_lines: dict[int, dict[str, int]] = {}
        self.functions: list[cst.FunctionDef] = []
        self.in_decorator = False
        self.decorator_markers: list[list[tuple[str, str]]] = [[]]
        self._line = 0

    # -- bookkeeping ------------------------------------------------------------------------------
    def _note(self, rule: str, text: str) -> None:
        self.report.changes.append(Change(self._line, rule, text))

    def _mark(self, rule: str, text: str) -> None:
        pending = self.decorator_markers[-1] if self.in_decorator else self.pending_markers
        if (rule, text) not in pending:
            pending.append((rule, text))

    def mark_node(self, node: cst.BaseCompoundStatement, rule: str, text: str) -> cst.BaseCompoundStatement:
        """A marker above a compound statement (a loop porter could not rewrite)."""
        self.report.markers.append(Change(self._line, rule, text))
        comment = cst.EmptyLine(comment=cst.Comment(f"# porter: {rule} {text}"))
        return node.with_changes(leading_lines=[*node.leading_lines, comment])

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self.in_decorator = True
        self._line = self.get_metadata(PositionProvider, node).start.line

    def leave_Decorator(self, original: cst.Decorator, updated: cst.Decorator) -> cst.Decorator:
        self.in_decorator = False
        return updated

    @property
    def scope(self) -> grids.GridScope:
        return self.scopes[-1]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        outer = self.scope
        inner = grids.GridScope(self.aliases, dict(outer.names), outer.next_grid, dict(outer.objects),
                                dict(outer.linear), dict(outer.predicates))
        self.scopes.append(inner)
        block = BlockDims(self.aliases)
        if self.has_par_dim:
            block.collect(node)
            block.names.update({p: k for p, k in self.param_blocks.get(node.name.value, {}).items()
                                if not p.startswith("#")})
        self.blocks.append(block)
        self.tiles.append(set(self.tiles[-1]))
        self.uninit.append(set(self.uninit[-1]))
        self.decorator_markers.append([])
        self.functions.append(node)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        scope = self.scopes.pop()
        self.tiles.pop()
        self.uninit.pop()
        self.functions.pop()
        self.scope.next_grid = max(self.scope.next_grid, scope.next_grid)
        self.blocks.pop()
        updated = self._drop_dead_grid_defs(updated, scope)
        self.in_decorator = True  # markers of the decorators' rewrite go above the function
        updated = entry.fix_decorators(self, updated)
        self.in_decorator = False
        markers = self.decorator_markers.pop()
        if not markers:
            return updated
        line = self.get_metadata(PositionProvider, original).start.line
        for rule, text in markers:
            self.report.markers.append(Change(line, rule, text))
        comments = [cst.EmptyLine(comment=cst.Comment(f"# porter: {rule} {text}")) for rule, text in markers]
        return updated.with_changes(leading_lines=[*updated.leading_lines, *comments])

    def _drop_dead_grid_defs(self, fn: cst.FunctionDef, scope: grids.GridScope) -> cst.FunctionDef:
        """Remove `ix = nl.arange(...)[...]` / mgrid assignments whose names are no longer read."""
        if id(scope) not in self.grid_lines:
            return fn  # this function defines no grid
        counter = grid_defs.NameUses(scope)
        fn.body.visit(counter)
        remover = grid_defs.GridDefRemover(scope, counter.live(), self.aliases)
        body = fn.body.visit(remover)
        lines = self.grid_lines.pop(id(scope), {})
        for target in remover.kept:
            self.report.markers.append(Change(lines.get(target, 0), GRID, grid_defs.KEPT_GRID))
        return fn.with_changes(body=body)

    # -- statements -------------------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._line = self.get_metadata(PositionProvider, node).start.line
        self.pending_markers = []
        self.pending_before = []
        self.pending_after = []
        self.hoisted = {}
        for small in node.body:
            if isinstance(small, cst.AnnAssign) and small.value is not None:
                target, value = small.target, small.value
            elif isinstance(small, cst.Assign) and len(small.targets) == 1:
                target, value = small.targets[0].target, small.value
                if self.scope.learn(target, value):
                    self.grid_lines[id(self.scope)] = {**self.grid_lines.get(id(self.scope), {}),
                                                       code(target): self._line}
            else:
                continue
            if isinstance(target, cst.Name) and _makes_tile(value, self.aliases, self.tiles[-1]):
                self.tiles[-1].add(target.value)
            if isinstance(target, cst.Name):
                if call_name(value, self.aliases) == "nki.language.ndarray":
                    self.uninit[-1].add(target.value)
                else:
                    self.uninit[-1].discard(target.value)
            if isinstance(target, cst.Name) and call_name(value, self.aliases) in _PSUM_RESULTS:
                self.psum_names.add(target.value)
            if isinstance(target, cst.Name) and isinstance(value, cst.Call):
                buf = arg(value, "buffer")
                if buf is not None and resolve(buf.value, self.aliases) == "nki.language.psum":
                    self.psum_allocs.add(target.value)
                else:
                    self.psum_allocs.discard(target.value)

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel:
        if grid_defs.defines_grid(original, self.scope):
            return updated  # left for the dead-definition pass
        words = _words(updated)
        if not (self.pending_markers or words & self.interesting or words & set(self.scope.names)
                or words & set(self.scope.objects) or words & set(self.scope.linear)
                or words & set(self.scope.predicates)
                or words & set(self.blocks[-1].names)):
            return updated
        statements: list[cst.BaseStatement] = []
        guard: list[str] = []
        try:
            updated = updated.visit(_AffineSelect(self))
            updated, guard = self._translate_grids(updated)
        except grids.Untranslatable as exc:
            self._mark(GRID, f"legacy index grid / mask not translated ({exc}); rewrite with slices")
        updated = self._hoist_returning_isa(updated)
        statements.extend(self.pending_before)
        if guard:
            cond = cst.parse_expression(guard[0] if len(guard) == 1 else " and ".join(f"({g})" for g in guard))
            statements.append(cst.If(test=cond, body=cst.IndentedBlock(body=[updated.with_changes(
                leading_lines=[])]), leading_lines=updated.leading_lines))
            self._note(GRID, "mask on values known at specialization time -> `if`")
        else:
            statements.append(updated)
        statements.extend(self.pending_after)
        statements = [s for s in statements if not _empty(s)]
        if not statements:
            return cst.RemoveFromParent()
        block_names = self.blocks[-1].names
        if block_names:
            for name in whole_uses(original, block_names, self.param_blocks):
                self._mark(BLOCK_DIM, f"`{name}` had block dims and is now a list of tiles; this use takes it whole "
                                      "(index the blocks here, or in the function it is passed to)")
        leftover = _MaskFinder(self.aliases)
        for st in statements:
            st.visit(leftover)
        if leftover.found:
            self._mark(GRID, "mask= could not be folded into slices; rewrite with slices")
        if self.pending_markers:
            first = statements[0]
            comments = [cst.EmptyLine(comment=cst.Comment(f"# porter: {rule} {text}"))
                        for rule, text in self.pending_markers]
            for rule, text in self.pending_markers:
                self.report.markers.append(Change(self._line, rule, text))
            statements[0] = first.with_changes(leading_lines=[*first.leading_lines, *comments])
        if len(statements) == 1:
            return statements[0]
        # Comments of the original line stay above the first new statement.
        lead = updated.leading_lines
        statements = [s.with_changes(leading_lines=[]) if i else s for i, s in enumerate(statements)]
        if statements[0] is not updated and lead and not statements[0].leading_lines:
            statements[0] = statements[0].with_changes(leading_lines=lead)
        return cst.FlattenSentinel(statements)

    # -- grids and masks --------------------------------------------------------------------------
    def _translate_grids(self, stmt: cst.SimpleStatementLine) -> tuple[cst.SimpleStatementLine, list[str]]:
        scope = self.scope
        masks = _MaskFinder(self.aliases)
        stmt.visit(masks)
        if not masks.found and not scope.contains_grid(stmt):
            return stmt, []
        bounds = grids.Bounds()
        for mask in masks.found:
            grids.mask_bounds(scope, mask, bounds)
        rewriter = _GridRewriter(scope, bounds, self.aliases, self.tiles[-1])
        new = stmt.visit(rewriter)
        if masks.found:
            new = new.visit(_MaskedOperands(_axis_ranges(bounds), self.tiles[-1], self.aliases))
        if rewriter.failed:
            raise grids.Untranslatable(rewriter.failed)
        if scope.contains_grid(new):
            raise grids.Untranslatable("an index grid is used outside a subscript")
        if masks.found:
            self._note(GRID, "mask= folded into the slices")
        if rewriter.count:
            self._note(GRID, "index grid -> slices")
        return new, bounds.static

    # -- value-returning nisa calls -------------------------------------------------------------
    def _hoist_returning_isa(self, stmt: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        hoister = _IsaHoister(self)
        new = stmt.visit(hoister)
        return new

    def temp(self) -> str:
        self.temp_counter += 1
        return f"_porter_t{self.temp_counter}"

    # -- loops ------------------------------------------------------------------------------------
    def leave_For(self, original: cst.For, updated: cst.For) -> cst.BaseStatement | cst.FlattenSentinel:
        it = updated.iter
        name = call_name(it, self.aliases)
        if name in ("nki.language.affine_range", "nki.language.sequential_range", "nki.language.static_range"):
            self._line = self.get_metadata(PositionProvider, original).start.line
            self._note(LOOP, f"{name.rsplit('.', 1)[1]} -> range")
            positional = [a for a in it.args if a.keyword is None]
            if len(positional) != len(it.args):
                self._note(LOOP, "loop directives dropped (compiler scheduling hints)")
                positional[-1:] = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in positional[-1:]]
            return updated.with_changes(iter=it.with_changes(func=cst.Name("range"), args=positional))
        if name == "nki.language.dynamic_range":
            self._line = self.get_metadata(PositionProvider, original).start.line
            return entry.dynamic_range_to_fori(self, original, updated)
        return updated

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.BaseStatement | cst.FlattenSentinel:
        self._line = self.get_metadata(PositionProvider, original).start.line
        return entry.register_while(self, original, updated)

    # -- names and calls --------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        self.call_funcs.add(id(node.func))

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if self.blocks[-1].names and isinstance(updated.value, cst.Name):
            updated_block = self.blocks[-1].rewrite_attribute(self, updated)
            if updated_block is not updated:
                return updated_block
        if isinstance(original.value, cst.Call) and call_name(original.value, self.aliases) == "nki.language.finfo":
            return entry.finfo(self, original, updated)
        name = resolve(original, self.aliases)
        if name is None:
            return updated
        if name in _ALLOCATOR_VALUES and id(original) not in self.call_funcs:
            self._note(LEGACY_API, f"{name} -> a function giving nl.{_ALLOCATOR_VALUES[name]}")
            return cst.parse_expression(f"(lambda *args, **kwargs: {self.nl}.{_ALLOCATOR_VALUES[name]})")
        if name in ("nki.language.fp32", "nki.language.bf16", "nki.language.fp16"):
            return updated.with_changes(attr=cst.Name(_DTYPE_ALIASES[name.rsplit(".", 1)[1]]))
        parent = dotted(original.value)
        if parent is not None and resolve(original.value, self.aliases) in (
                "nki.language.fp32", "nki.language.bf16", "nki.language.fp16"):
            limit = FLOAT_LIMITS[_DTYPE_ALIASES[parent.rsplit(".", 1)[1]]].get(original.attr.value)
            if limit is not None:
                return cst.parse_expression(f"({limit})" if limit.startswith("-") else limit)
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        return entry.fix_call(self, original, updated)

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        return self.blocks[-1].rewrite_subscript(self, original, updated)

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and call_name(node.value, self.aliases) == "nki.language.loop_reduce":
            self.loop_reduces.add(id(node.value))

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if id(original.value) in self.loop_reduces:
            return loop_reduce(self, updated)
        return self.blocks[-1].rewrite_alloc(self, original, updated)


class _Words(cst.CSTVisitor):
    def __init__(self) -> None:
        self.words: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.words.add(node.value)


def _words(node: cst.CSTNode) -> set[str]:
    """Every identifier in a statement (names, attributes, keywords): a cheap filter before the passes."""
    v = _Words()
    node.visit(v)
    return v.words


def _makes_tile(value: cst.BaseExpression, aliases: dict[str, str], tiles: set[str]) -> bool:
    """An on-chip tile comes from an nl./nisa. call, a method of a tile, or a view of one."""
    if isinstance(value, cst.Call):
        name = call_name(value, aliases) or ""
        if name.startswith(("nki.language.", "nki.isa.")):
            return name.rsplit(".", 1)[1] not in ("program_id", "num_programs", "program_ndim", "ds")
        if isinstance(value.func, cst.Attribute) and isinstance(value.func.value, cst.Name):
            return value.func.value.value in tiles
        return False
    if isinstance(value, cst.Subscript) and isinstance(value.value, cst.Name):
        return value.value.value in tiles
    if isinstance(value, cst.BinaryOperation):
        return any(isinstance(v, cst.Name) and v.value in tiles for v in (value.left, value.right))
    return False


def _axis_ranges(bounds: grids.Bounds) -> dict[int, tuple[str, str]]:
    """Mask ranges by tile dim: {position: (lo, hi)} for the axes the mask bounds."""
    out = {}
    for axis in {*bounds.lower, *bounds.upper}:
        out[axis.position] = grids._range_of(axis, bounds)
    return out


class _MaskedOperands(cst.CSTTransformer):
    """A masked instruction on whole tiles works on the masked rows only: slice its tile operands.

    `out[...] = nl.multiply(t, w, mask=(i * 128 + ix < n))` -> `out[0:hi] = nl.multiply(t[0:hi], w[0:hi])`
    (a tile already cut to hi rows by a masked load is unchanged by the slice).
    """

    def __init__(self, ranges: dict[int, tuple[str, str]], tiles: set[str], aliases: dict[str, str]) -> None:
        self.ranges = ranges
        self.tiles = tiles
        self.aliases = aliases

    def _slices(self) -> str:
        dims = max(self.ranges) + 1 if self.ranges else 0
        parts = []
        for d in range(dims):
            lo, hi = self.ranges.get(d, ("", ""))
            parts.append(f"{'' if lo == '0' else lo}:{hi}")
        return ", ".join(parts)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if not self.ranges or not (isinstance(updated.value, cst.Name) and updated.value.value in self.tiles):
            return updated
        if updated.keyword is not None and updated.keyword.value in ("dtype", "axis", "op", "mask"):
            return updated
        return updated.with_changes(value=cst.parse_expression(f"{updated.value.value}[{self._slices()}]"))

    def leave_AssignTarget(self, original: cst.AssignTarget, updated: cst.AssignTarget) -> cst.AssignTarget:
        t = updated.target
        if (self.ranges and isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name)
                and len(t.slice) == 1 and isinstance(t.slice[0].slice, cst.Index)
                and isinstance(t.slice[0].slice.value, cst.Ellipsis)):
            return updated.with_changes(target=cst.parse_expression(f"{t.value.value}[{self._slices()}]"))
        return updated


def _imported_modules(module: cst.Module) -> dict[str, str]:
    """`import numpy as np` -> {"np": "numpy"} (every scope)."""
    found: dict[str, str] = {}

    class V(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> None:
            for alias in node.names:
                full = dotted(alias.name) or ""
                found[alias.asname.name.value if alias.asname else full.split(".")[0]] = (
                    full if alias.asname else full.split(".")[0])

    module.visit(V())
    return found


def _empty(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and not stmt.body


class _AffineSelect(cst.CSTTransformer):
    """Legacy `nisa.affine_select(pred, on_true_tile, on_false_value)` with a predicate over the index
    grid -> the current form: the predicate as `pattern`, `channel_multiplier`, `offset`, `cmp_op`."""

    def __init__(self, up: Upgrader) -> None:
        self.up = up

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if call_name(original, self.up.aliases) != "nki.isa.affine_select" or arg(updated, "dst") is not None:
            return updated
        pred = arg(updated, "pred", 0)
        true_tile = arg(updated, "on_true_tile", 1)
        false_value = arg(updated, "on_false_value", 2)
        if pred is None or true_tile is None or false_value is None:
            return updated
        try:
            cp, step, offset, op, free = grids.affine_predicate(self.up.scope, pred.value)
        except grids.Untranslatable as exc:
            self.up._mark(GRID, f"legacy affine_select predicate not translated ({exc})")
            return updated
        count = free.size if free is not None else f"{code(true_tile.value)}.shape[1]"
        on_true = code(true_tile.value)
        base = true_tile.value
        while isinstance(base, cst.Subscript):
            base = base.value
        if isinstance(base, cst.Name) and base.value in (self.up.psum_names | self.up.psum_allocs):
            # affine_select runs on GpSimd, which cannot read PSUM: the legacy compiler copied the
            # operand to SBUF, the current API needs the copy written out.
            on_true = f"{self.up.nl}.copy({on_true})"
            self.up._note(GRID, "PSUM operand of affine_select copied to SBUF (nl.copy)")
        dtype = arg(updated, "dtype")
        text = (f"{self.up.nisa}.affine_select(pattern=[[{step}, {count}]], channel_multiplier={cp}, "
                f"on_true_tile={on_true}, on_false_value={code(false_value.value)}, "
                f"cmp_op={self.up.nl}.{op}, offset={offset}"
                + (f", dtype={code(dtype.value)})" if dtype is not None else ")"))
        self.up._note(GRID, "legacy affine_select predicate -> pattern / channel_multiplier / offset")
        return cst.parse_expression(text)


class _MaskFinder(cst.CSTVisitor):
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.found: list[cst.BaseExpression] = []

    def visit_Call(self, node: cst.Call) -> None:
        name = call_name(node, self.aliases) or ""
        if not name.startswith("nki."):
            return
        m = arg(node, "mask")
        if m is not None:
            self.found.append(m.value)


class _GridRewriter(cst.CSTTransformer):
    """Grid subscripts -> slices; `mask=` keywords removed; operand masks `t[...][cond]` folded."""

    def __init__(self, scope: grids.GridScope, bounds: grids.Bounds, aliases: dict[str, str],
                 tiles: set[str]) -> None:
        self.scope = scope
        self.bounds = bounds
        self.aliases = aliases
        self.tiles = tiles
        self.failed = ""
        self.count = 0
        self.patterns: set[int] = set()  # `.ap(...)` views made here (an assignment target gets `[...]`)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        name = call_name(original, self.aliases) or ""
        if name.startswith("nki.") and arg(updated, "mask") is not None:
            args = [a for a in updated.args if not (a.keyword is not None and a.keyword.value == "mask")]
            if args:
                args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(args=args)
        return updated

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        if self.failed:
            return updated
        # Operand masking: `x[grid...][cond]` -> the condition bounds x's grid axes.
        if (len(updated.slice) == 1 and isinstance(updated.slice[0].slice, cst.Index)
                and isinstance(original.value, cst.Subscript)
                and isinstance(updated.slice[0].slice.value, (cst.Comparison, cst.BinaryOperation))
                and self.scope.contains_grid(updated.slice[0].slice.value)):
            try:
                local = grids.mask_bounds(self.scope, updated.slice[0].slice.value)
                inner = grids.translate_index(self.scope, original.value, _merge(self.bounds, local))
            except grids.Untranslatable as exc:
                self.failed = str(exc)
                return updated
            self.count += 1
            return inner
        if not any(isinstance(e.slice, cst.Index) and self.scope.contains_grid(e.slice.value)
                   for e in updated.slice):
            return updated
        try:
            self.count += 1
            return grids.translate_index(self.scope, updated, self.bounds)
        except grids.Untranslatable as exc:
            try:  # no slice says it: an access pattern may (several axes in one dim, variable scales)
                view = grids_ap.translate_ap(self.scope, updated, self.bounds, self.tiles)
            except grids.Untranslatable:
                self.failed = str(exc)
                return updated
            self.patterns.add(id(view))
            return view

    def leave_AssignTarget(self, original: cst.AssignTarget, updated: cst.AssignTarget) -> cst.AssignTarget:
        if id(updated.target) in self.patterns:  # `t.ap(...) = x` is no Python: write through the view
            index = cst.SubscriptElement(cst.Index(cst.Ellipsis()))
            return updated.with_changes(target=cst.Subscript(value=updated.target, slice=[index]))
        return updated


def _merge(a: grids.Bounds, b: grids.Bounds) -> grids.Bounds:
    out = grids.Bounds({k: list(v) for k, v in a.lower.items()}, {k: list(v) for k, v in a.upper.items()},
                       list(a.static))
    for k, v in b.lower.items():
        out.lower.setdefault(k, []).extend(v)
    for k, v in b.upper.items():
        out.upper.setdefault(k, []).extend(v)
    out.static.extend(b.static)
    return out


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
        return entry.hoist(self.up, op, spec, updated)

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.BaseSmallStatement:
        return entry.assign_of_hoisted(self.up, updated)

    def leave_AugAssign(self, original: cst.AugAssign, updated: cst.AugAssign) -> cst.BaseSmallStatement:
        return entry.augassign_of_hoisted(self.up, original, updated)


def upgrade_module(source: str) -> tuple[str, Report, bool]:
    """Upgrade one module's text. Returns (new text, report, whether it used the legacy namespace)."""
    module = cst.parse_module(source)
    aliases = Aliases()
    module.visit(aliases)
    names = aliases.names
    local = {v: k for k, v in names.items()}
    up = Upgrader(names, local.get("nki.language", "nl"), local.get("nki.isa", "nisa"), local.get("nki", "nki"),
                  legacy=aliases.legacy)
    up.numpy_names = {k for k, v in _imported_modules(module).items() if v == "numpy"}
    # A statement needs the grid / mask / dst passes only if it names one of these.
    up.has_par_dim = "par_dim" in source
    up.param_blocks = parameter_blocks(module, names) if up.has_par_dim else {}
    up.interesting = {"mask", "arange", "mgrid", "isa", *(k for k, v in names.items() if v.startswith("nki.isa"))}
    wrapper = MetadataWrapper(module)
    up._module_for_registers = wrapper.module
    new = wrapper.visit(up)
    new = entry.fix_imports(up, new)
    if up.need_reduce_helper:
        new = entry.add_helper(new, REDUCED_SHAPE_HELPER)
    if up.need_finfo_helper:
        new = entry.add_helper(new, entry.finfo_helper())
    return new.code, up.report, aliases.legacy


__all__ = ["Change", "Report", "Upgrader", "code", "upgrade_module"]
