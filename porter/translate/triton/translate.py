"""Triton kernel source -> NKI kernel source (static: ``ast`` in, Python text out; nothing is imported or run).

Each ``@triton.jit`` function becomes a plain function whose ``tl.*`` calls go to ``nki_tl`` (Triton semantics
on NKI tiles, evaluated while the NKI kernel is traced), plus an ``@nki.jit`` entry point that runs it for every
program of the launch grid, and a host-side ``<kernel>_launch(grid, *args, **kwargs)`` that takes the arguments of
``kernel[grid](*args, **kwargs)``. The first construct outside the translated subset stops a kernel; it is
reported with rule NRN430 and the reason.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path

from .emit import HOST_TRITON, dotted_name, emit, host_functions, program_name
from .parse import LIBDEVICE_MODULES, Kernel, TritonFile, parse_source, qualified

RULE = "NRN430"
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
    lines: dict[int, int] = field(default_factory=dict)  # a statement's line in ``source`` -> its line in ``path``

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
            if q.startswith("triton.") and q.split(".")[-1] in HOST_TRITON:
                name = HOST_TRITON[q.split(".")[-1]]
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
        if _jumps_out(node.body) or _jumps_out(node.orelse):
            # a `for` around it would catch a `break`; a value returned from one side cannot be the other
            # side's too: the plain test (a test on loaded data raises when traced)
            node.test = _call("_tl.cond", [node.test])
            return node
        # `for taken in _tl.branches(test): if taken: ... else: ...`: one side for a test known while tracing,
        # both under per-program predicates for a test on loaded data (nki_tl/branches.py)
        taken = f"_porter_taken_{node.lineno}_{node.col_offset}"
        inner = ast.If(test=ast.Name(taken, ast.Load()), body=node.body, orelse=node.orelse)
        loop = ast.For(target=ast.Name(taken, ast.Store()), iter=_call("_tl.branches", [node.test]),
                       body=[inner], orelse=[])
        return ast.fix_missing_locations(ast.copy_location(loop, node))

    def visit_Return(self, node: ast.Return) -> ast.AST:
        node = self.generic_visit(node)
        if node.value is not None:
            return node
        # `if _tl.retire(): return`: under a branch on loaded data the programs it stands for stop writing
        return ast.fix_missing_locations(ast.copy_location(
            ast.If(test=_call("_tl.retire", []), body=[node], orelse=[]), node))

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        # `a if test else b` -> `_tl.choose(test, lambda: a, lambda: b)`: one side when the test is known at
        # trace time, both and a lane-by-lane select when it is loaded data (`s = 1.0 if s == 0 else s`)
        node = self.generic_visit(node)
        return ast.copy_location(_call("_tl.choose", [node.test, _thunk(node.body), _thunk(node.orelse)]), node)

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
                it.func = dotted_name("_tl.range")
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
            return ast.copy_location(ast.Call(func=dotted_name("_tl.cast"), args=[value, *args], keywords=kws), node)
        q = qualified(func, self.tf.aliases) or ""
        if q.startswith("triton.language.") and q.rsplit(".", 1)[-1] in _DTYPES and len(node.args) == 1:
            # `tl.float32(x)`: Triton's compiler casts x (a scalar of that type)
            dtype = dotted_name(f"_tl.{q.rsplit('.', 1)[-1]}")
            return ast.copy_location(ast.Call(func=dotted_name("_tl.cast"), args=[self.visit(node.args[0]), dtype],
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
            node.func = dotted_name(program_name(func.id))
            return node
        if isinstance(func, ast.Name) and func.id in ("min", "max") and func.id not in self.locals \
                and not node.keywords:
            node.args = [self.visit(a) for a in node.args]
            node.func = dotted_name(f"_tl.py{func.id}")
            return node
        if isinstance(func, ast.Name) and func.id not in self.locals and func.id not in _BUILTINS_OK \
                and func.id not in self.tf.aliases:
            raise _Stop(node, f"{func.id}()", _foreign_call(self.tf, func.id))
        q = qualified(func, self.tf.aliases) or ""
        if q.endswith((".zeros", ".full")) and node.args:
            shape = node.args[0]
            if isinstance(shape, (ast.List, ast.Tuple)) and len(shape.elts) >= 2:
                self.program_mode = True
        return self.generic_visit(node)


_MEMORY_OPS = {"load", "store", "atomic_add", "atomic_max", "atomic_min", "atomic_cas", "atomic_xchg", "atomic_and",
               "atomic_or", "atomic_xor"}


def _gather_site(tf: TritonFile, fn: ast.FunctionDef) -> ast.Call | None:
    """The first ``tl.load``/``tl.store`` whose address involves loaded data (``input_ptr + target * stride``
    after ``target = tl.load(...)``): the translation computes addresses while tracing, data only on chip.
    Names are followed through assignments (in any order: a loop can carry them back)."""
    def memory_op(node: ast.AST) -> str | None:
        if isinstance(node, ast.Call):
            q = qualified(node.func, tf.aliases) or ""
            if q.startswith("triton.language.") and q.rsplit(".", 1)[-1] in _MEMORY_OPS:
                return q.rsplit(".", 1)[-1]
        return None

    def address(call: ast.Call) -> ast.expr | None:
        if call.args:
            return call.args[0]
        return next((kw.value for kw in call.keywords if kw.arg == "pointer"), None)

    tainted: set[str] = set()

    def reads_data(expr: ast.AST) -> bool:
        return any((isinstance(n, ast.Name) and n.id in tainted) or memory_op(n) == "load" for n in ast.walk(expr))

    changed = True
    while changed:
        changed = False
        for node in ast.walk(fn):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None \
                    and reads_data(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name) and n.id not in tainted:
                            tainted.add(n.id)
                            changed = True
    for node in ast.walk(fn):
        if memory_op(node) is not None:
            addr = address(node)
            if addr is not None and reads_data(addr):
                return node
    return None


def _foreign_call(tf: TritonFile, name: str) -> str:
    """Why a call to ``name`` in a kernel is not translated, naming where the name comes from."""
    for node in tf.tree.body:
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            source = "." * node.level + (node.module or "")
            return (f"a function imported from {source} (line {node.lineno}): calls to functions of another module "
                    "are not translated, @triton.jit or not")
    return "a call to a function that is not a @triton.jit function of this file"


def _jumps_out(body: list[ast.stmt]) -> bool:
    """Do these statements `return` a value, or `break`/`continue` out of them (not out of a loop of their own)?"""
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Break, ast.Continue)) or isinstance(node, ast.Return) and node.value is not None:
            return True
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):  # its own loop: only a value returned leaves it
            stack.extend(n for n in ast.walk(node) if isinstance(n, ast.Return) and n.value is not None)
            stack.extend(node.orelse)  # (a `break` in a loop's `else` leaves the loop around it)
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return False


def _thunk(value: ast.expr) -> ast.Lambda:
    """`lambda: value` (made after the body's own check that refuses a user's lambda)."""
    no_args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                            defaults=[])
    return ast.copy_location(ast.Lambda(args=no_args, body=value), value)


def _call(dotted: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=dotted_name(dotted), args=args, keywords=[])


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
            _, host_problem = host_functions(tf, k)
            if host_problem:
                raise _Stop(ast.Pass(lineno=host_problem[0]), "@triton.heuristics", host_problem[1])
            if fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs:
                raise _Stop(k.node, "signature", "a kernel with *args, **kwargs or keyword-only parameters")
            gather = _gather_site(tf, k.node)
            if gather is not None:
                op = gather.func.attr if isinstance(gather.func, ast.Attribute) else "load"
                raise _Stop(gather, f"tl.{op} through an address computed from loaded data",
                            "gathers and scatters (pointer offsets computed from loaded data) are not translated "
                            "to NKI")
            fn.body = [rw.visit(s) for s in fn.body]
        except _Stop as stop:
            kt.problem = stop.problem
        fn.name = program_name(k.name)
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
    # a device function only untranslatable kernels call is checked on its own (else it would get no verdict)
    called_by_translated = {c for kt in results.values() if kt.translated for c in kt.callees}
    for k in tf.kernels:
        kt = results[k.name]
        kt.device = returns_value(k.node)
        kt.launched = kt.name in launched or kt.name not in (called_by_translated if kt.device else called)
    for k in tf.kernels:
        kt = results[k.name]
        kt.config, kt.config_note = pick_config(k, kt.mode)
        if kt.runtime_configs:
            limit = f" whose block sizes are <= {PARTITIONS}" if kt.mode == "program" else ""
            kt.config_note = f"autotune configurations built at run time: the launcher takes the first{limit}"
    ok = [k for k in tf.kernels if results[k.name].translated]
    text = emit(tf, ok, bodies, results) if any(results[k.name].launched for k in ok) else None
    lines = _line_map(text, [bodies[k.name] for k in ok]) if text else {}
    return FileTranslation(path=path, kernels=[results[k.name] for k in tf.kernels], source=text, lines=lines)


def _line_map(text: str, bodies: list[ast.FunctionDef]) -> dict[int, int]:
    """Each statement of the translated program functions -> the line of the Triton statement it came from (the
    rewritten trees keep the original locations; the NKI text is their unparse, so both walk alike). An error
    raised while a translation is traced is reported at the Triton line."""
    generated = {n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}
    out: dict[int, int] = {}
    for body in bodies:
        gen = generated.get(body.name)
        if gen is None:
            continue
        _pair_statements(gen.body, body.body, out)
    return out


def _pair_statements(gen: list[ast.stmt], orig: list[ast.stmt], out: dict[int, int]) -> None:
    """Statement lists walked side by side (unparsing keeps statements as they are, unlike some expressions)."""
    for a, b in zip(gen, orig, strict=False):
        if type(a) is not type(b):
            return
        if getattr(b, "lineno", None):
            out.setdefault(a.lineno, b.lineno)
        for name in ("body", "orelse", "finalbody"):
            _pair_statements(getattr(a, name, []), getattr(b, name, []), out)


def translate_file(path: Path) -> FileTranslation:
    return translate_source(path.read_text(encoding="utf-8"), path)
