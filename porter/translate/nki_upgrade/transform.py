"""The legacy -> current NKI codemod: one libcst transformer over a module.

Order inside each statement: block dimensions (lists of tiles), index grids and masks (slices),
value-returning `nisa` calls (`dst=`), then names (`nl.fp32`, loops, entry points). What cannot be
translated keeps its code and gets a marker `# porter: NRN7xx <reason>` above the statement.

This module holds the transformer's bookkeeping (scopes, tiles, markers, the report) and the order;
the rewrites live by job in blocks, grid_rewrite, hoist, entry (calls and decorators), loops, finfo
and imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from porter.translate.nki_upgrade import entry, grid_defs, grids, imports, keep_dims, loops
from porter.translate.nki_upgrade.blocks import BlockDims, parameter_blocks, whole_uses
from porter.translate.nki_upgrade.finfo import DTYPE_ALIASES, FLOAT_LIMITS, finfo, finfo_helper
from porter.translate.nki_upgrade.grid_iota import Iota
from porter.translate.nki_upgrade.grid_rewrite import AffineSelect, MaskFinder, translate_grids
from porter.translate.nki_upgrade.hoist import hoist_statement
from porter.translate.nki_upgrade.isa_dst import REDUCED_SHAPE_HELPER
from porter.translate.nki_upgrade.loop_reduce import loop_reduce
from porter.translate.nki_upgrade.names import Aliases, arg, call_name, code, dotted, resolve
from porter.translate.nki_upgrade.tile_shapes import Shapes, shape_of

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
        self.conditional_suites: set[int] = set()  # ids of blocks that may not run (visit_If, ...)
        self.tiles: list[set[str]] = [set()]
        self.shapes: list[Shapes] = [Shapes()]  # tile shapes known statically (tile_shapes.py)
        self.pending_shapes: list[tuple[str, tuple | None, int]] = []
        self.uninit: list[set[str]] = [set()]  # tiles allocated by nl.ndarray (no initial value)
        self.param_blocks: dict[str, dict[str, int]] = {}  # helper parameters receiving block-dim tiles
        self.loop_reduces: set[int] = set()  # `t = nl.loop_reduce(...)` calls (rewritten with their target)
        self.keep_dim: set[int] = set()  # `t[:, i]` subscripts whose legacy tile kept the dim (keep_dims.py)
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
        self.shapes.append(Shapes(self.shapes[-1], params=[p.name.value for p in (
            *node.params.posonly_params, *node.params.params, *node.params.kwonly_params)]))
        self.uninit.append(set(self.uninit[-1]))
        self.decorator_markers.append([])
        self.functions.append(node)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        scope = self.scopes.pop()
        self.tiles.pop()
        self.shapes.pop()
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

    # -- blocks that may not run: grid names rebound inside one are retired when it ends -------------
    # (GridScope.leave_suite): `if` / `elif` / `else` bodies, `while` bodies, `except` handlers, `case`s.
    def _conditional(self, *suites: cst.CSTNode | None) -> None:
        for suite in suites:
            if suite is not None:
                self.conditional_suites.add(id(suite))

    def visit_If(self, node: cst.If) -> None:
        self._conditional(node.body, node.orelse.body if isinstance(node.orelse, cst.Else) else None)

    def visit_While(self, node: cst.While) -> None:
        self._conditional(node.body)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._conditional(node.body)

    def visit_MatchCase(self, node: cst.MatchCase) -> None:
        self._conditional(node.body)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.scope.suites.append(id(node))

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        self._leave_suite(original)
        return updated

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self.scope.suites.append(id(node))

    def leave_SimpleStatementSuite(self, original: cst.SimpleStatementSuite,
                                   updated: cst.SimpleStatementSuite) -> cst.SimpleStatementSuite:
        self._leave_suite(original)
        return updated

    def _leave_suite(self, suite: cst.CSTNode) -> None:
        self.scope.suites.pop()
        if id(suite) in self.conditional_suites:
            self.scope.leave_suite(id(suite))

    # -- statements -------------------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._line = self.get_metadata(PositionProvider, node).start.line
        self.pending_markers = []
        self.pending_before = []
        self.pending_after = []
        self.hoisted = {}
        self.pending_shapes = []
        for text in imports.import_markers(node):
            self._mark("NRN701", text)
        for small in node.body:
            if isinstance(small, cst.AnnAssign) and small.value is not None:
                target, value = small.target, small.value
            elif isinstance(small, cst.Assign) and len(small.targets) == 1:
                target, value = small.targets[0].target, small.value
                if self.scope.learn(target, value):
                    self.grid_lines[id(self.scope)] = {**self.grid_lines.get(id(self.scope), {}),
                                                       code(target): self._line}
            else:
                if isinstance(small, cst.Assign):  # `a = b = ...`: not followed
                    self.pending_shapes.extend((n, None, 0) for t in small.targets for n in _bound_names(t.target))
                continue
            if isinstance(target, cst.Name):
                known = shape_of(self, value)
                self.pending_shapes.append((target.value, *(known or (None, 0))))
            else:
                self.pending_shapes.extend((n, None, 0) for n in _bound_names(target))
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
        try:
            return self._leave_line(original, updated)
        finally:  # the statement's own operands were read with the shapes before it
            for name, shape, blocks in self.pending_shapes:
                self.shapes[-1].bind(name, shape, blocks)
            self.pending_shapes = []

    def _leave_line(
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
            updated = updated.visit(AffineSelect(self))
            updated = updated.visit(Iota(self))
            updated, guard = translate_grids(self, updated)
        except grids.Untranslatable as exc:
            self._mark(GRID, f"legacy index grid / mask not translated ({exc}); rewrite with slices")
        updated = hoist_statement(self, updated)
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
        leftover = MaskFinder(self.aliases)
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

    def temp(self) -> str:
        """A fresh temporary name (hoisted nisa results, call operands read twice)."""
        self.temp_counter += 1
        return f"_porter_t{self.temp_counter}"

    # -- loops ------------------------------------------------------------------------------------
    def visit_For(self, node: cst.For) -> None:
        for name in _bound_names(node.target):  # a loop variable is no tile of known shape
            self.shapes[-1].bind(name, None)

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
            return loops.dynamic_range_to_fori(self, original, updated)
        return updated

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.BaseStatement | cst.FlattenSentinel:
        self._line = self.get_metadata(PositionProvider, original).start.line
        return loops.register_while(self, original, updated)

    # -- names and calls --------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        self.call_funcs.add(id(node.func))

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if self.blocks[-1].names and isinstance(updated.value, cst.Name):
            updated_block = self.blocks[-1].rewrite_attribute(self, updated)
            if updated_block is not updated:
                return updated_block
        if isinstance(original.value, cst.Call) and call_name(original.value, self.aliases) == "nki.language.finfo":
            return finfo(self, original, updated)
        name = resolve(original, self.aliases)
        if name is None:
            return updated
        if name in _ALLOCATOR_VALUES and id(original) not in self.call_funcs:
            self._note(LEGACY_API, f"{name} -> a function giving nl.{_ALLOCATOR_VALUES[name]}")
            return cst.parse_expression(f"(lambda *args, **kwargs: {self.nl}.{_ALLOCATOR_VALUES[name]})")
        if name in ("nki.language.fp32", "nki.language.bf16", "nki.language.fp16"):
            return updated.with_changes(attr=cst.Name(DTYPE_ALIASES[name.rsplit(".", 1)[1]]))
        parent = dotted(original.value)
        if parent is not None and resolve(original.value, self.aliases) in (
                "nki.language.fp32", "nki.language.bf16", "nki.language.fp16"):
            limit = FLOAT_LIMITS[DTYPE_ALIASES[parent.rsplit(".", 1)[1]]].get(original.attr.value)
            if limit is not None:
                return cst.parse_expression(f"({limit})" if limit.startswith("-") else limit)
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        return entry.fix_call(self, original, updated)

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript) -> cst.BaseExpression:
        if id(original) in self.keep_dim:
            updated = keep_dims.widen(updated)
            self._note(LEGACY_API, "t[:, i] on a 2-d on-chip tile kept the dim in legacy NKI -> t[:, i:i + 1]")
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


def _bound_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _bound_names(el.value)]
    if isinstance(target, cst.StarredElement):
        return _bound_names(target.value)
    return []


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
    if aliases.legacy:
        up.keep_dim = keep_dims.find(wrapper.module, names)
    new = wrapper.visit(up)
    new = imports.fix_imports(up, new)
    if up.need_reduce_helper:
        new = imports.add_helper(new, REDUCED_SHAPE_HELPER)
    if up.need_finfo_helper:
        new = imports.add_helper(new, finfo_helper())
    return new.code, up.report, aliases.legacy


__all__ = ["Change", "Report", "Upgrader", "code", "upgrade_module"]
