"""Device tests that gate CUDA-only code: kept and marked, never flipped to Neuron.

`x.is_cuda`, `device.type == "cuda"` and `torch.cuda.is_available()` ask one of two questions:
"which device am I on" (then the Neuron rewrite keeps the program's meaning) or "can CUDA kernels
run here" (then it does not: a Neuron tensor would be sent into Triton or a CUDA extension). Porter
cannot read intent, so it looks at what the test guards. A test whose guarded code holds something
porter leaves CUDA-only (a kernel import or launch, a construct with no fix, a function of this file
that holds one) keeps its CUDA meaning and is marked. So are an `assert` (a precondition of
CUDA-only code), a test combined with other conditions into a value (`use_fused = fused_ok and
device_type == "cuda"`: a capability gate) and a test weighed against another backend's check
(`mps.is_available() and not torch.cuda.is_available()`: `torch.accelerator` counts MPS too).
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable

from porter.source import gate_shapes as shapes
from porter.source.astwalk import statements, walk
from porter.source.catalogue import Rule
from porter.source.findings import Finding
from porter.source.selectors import Selectors

KEPT = "the CUDA test stays"
FUNCTIONS_AND_CLASSES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class GateCheck:
    """Decides, for each device-test finding of one file, whether it must keep its CUDA meaning."""

    def __init__(self, tree: ast.Module, parents: dict[int, ast.AST], findings: list[Finding],
                 nodes: dict[int, ast.AST], rules: dict[str, Rule], source: str | None = None,
                 selectors: Callable[[], Selectors] | None = None, target: str = "neuron") -> None:
        self.tree = tree
        self.target = target
        self._selectors = selectors or (lambda: Selectors(tree))
        self.source = source  # the tree's text, when known: a quick look for kernel launches
        self.parents = parents
        self.findings = findings
        self.nodes = nodes
        self.rules = rules
        self._functions: dict[str, tuple[int, str]] | None = None
        self._kernel_names: dict[str, tuple[int, str]] | None = None
        self._leftovers: tuple[list[tuple[int, int]], list[Finding]] | None = None
        self._unfixed: dict[str, bool] = {}  # by rule: does no fix port it (`_leftover`)?
        self._tests: dict[int, int] | None = None
        self._bindings: shapes.Bindings | None = None
        self._language = False
        self._imported: dict[str, str] | None = None

    # -- what porter leaves CUDA-only ---------------------------------------------------------

    def _is_launch(self, call: ast.Call) -> bool:
        """Is `x[...](...)` a kernel launch `kernel[grid](...)`? Not when it calls what a container holds:
        `x` is itself indexed or a container the file fills (a literal, a comprehension, `nn.ModuleList`),
        or the index is a string. In a file that imports no kernel language (Triton, Numba, ...) and no
        CUDA-only kernel package, `x` must come from elsewhere unseen (a star import, an unbound name), or
        the index must spell a grid in place (a tuple, a lambda), for the call to be a launch:
        `DiT_models[args.model](...)`, `self.blocks[i](h)` are lookups."""
        func = call.func
        assert isinstance(func, ast.Subscript)
        index, held = func.slice, func.value
        if isinstance(index, ast.JoinedStr) or (isinstance(index, ast.Constant) and isinstance(index.value, str)):
            return False
        if isinstance(held, ast.Subscript) or shapes.container(held):
            return False
        if self._bindings is None:
            self._bindings = shapes.Bindings(self.tree, self.source)
            self._language = self._bindings.language or any(
                self.rules.get(f.rule_id) is not None and self.rules[f.rule_id].category == "kernels"
                for f in self.findings)
        bindings = self._bindings
        key = shapes.self_key(held)
        if key is not None and bindings.values.get(key) and all(shapes.container(v) for v in bindings.values[key]):
            return False
        if self._language:
            return True
        name = shapes.root(held)
        if not isinstance(name, ast.Name) or not bindings.binds(name.id):
            return True
        return isinstance(index, (ast.Tuple, ast.Lambda))

    def _foreign_cuda_call(self, call: ast.Call) -> str:
        """`tvm.cuda(0)`, `tvm.target.cuda()`, `cupy.cuda.Device(0)`: another package's CUDA API (porter
        knows only torch's): a Neuron device must not reach it."""
        parts = shapes.dotted(call.func).split(".")
        if len(parts) < 2 or "cuda" not in parts[1:]:
            return ""
        if self._imported is None:
            self._imported = shapes.imports_outside_torch(self.tree)
        module = self._imported.get(parts[0])
        return f"{module}.{'.'.join(parts[1:])}" if module else ""

    def _leftover(self, finding: Finding) -> bool:
        """A site the port does not turn into device-agnostic code (it is marked, or guarded only)."""
        rule = self.rules.get(finding.rule_id)
        if rule is None or rule.device_test:
            return False
        if finding.manual:
            return True
        unfixed = self._unfixed.get(rule.id)
        if unfixed is None:
            unfixed = self._unfixed[rule.id] = not any(
                fix.available and fix.transform not in ("", "guard-import") for fix in rule.fixes.values())
        return unfixed

    def _leftovers_in(self, start: tuple[int, int], end: tuple[int, int]) -> list[Finding]:
        if self._leftovers is None:
            found = sorted(((f.line, f.col), i) for i, f in enumerate(self.findings) if self._leftover(f))
            self._leftovers = ([pos for pos, _ in found], [self.findings[i] for _, i in found])
        positions, findings = self._leftovers
        return findings[bisect.bisect_left(positions, start):bisect.bisect_left(positions, end)]

    def _cuda_functions(self) -> dict[str, tuple[int, str]]:
        """Functions, methods and classes (an autograd Function around an extension) of this file that
        hold CUDA-only code: name -> (line, rule id)."""
        if self._functions is None:
            self._functions = {}
            functions: list[ast.AST] = []
            calls: list[ast.Call] = []
            if self.source is not None:
                # the functions are statements; the launches are looked for only where the text spells one
                functions = [n for n in statements(self.tree) if isinstance(n, FUNCTIONS_AND_CLASSES)]
                calls = shapes.launch_calls(self.tree, self.source)
            else:
                for node in walk(self.tree):  # one walk: the functions, and the kernel launches `k[grid](...)`
                    if isinstance(node, FUNCTIONS_AND_CLASSES):
                        functions.append(node)
                    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript):
                        calls.append(node)
            launches = sorted(call.lineno for call in calls if self._is_launch(call))
            for node in functions:
                start, end = shapes.span([node])
                inside = self._leftovers_in(start, end)
                if inside:
                    self._functions.setdefault(node.name, (inside[0].line, inside[0].rule_id))
                    continue
                at = bisect.bisect_left(launches, start[0])
                if at < len(launches) and launches[at] <= end[0]:
                    self._functions.setdefault(node.name, (launches[at], "a kernel launch"))
                    continue
                called = self._kernel_call_in(node)
                if called is not None:
                    self._functions.setdefault(node.name, called)
        return self._functions

    def _cuda_only_code(self, region: list[ast.AST]) -> str:
        """Why this guarded code is CUDA-only ("" when porter ports all of it)."""
        start, end = shapes.span(region)
        inside = self._leftovers_in(start, end)
        if inside:
            return f"it guards CUDA-only code ({inside[0].rule_id} at line {inside[0].line})"
        for node in region:
            for sub in walk(node):
                if not isinstance(sub, ast.Call):
                    continue
                if isinstance(sub.func, ast.Subscript) and self._is_launch(sub):
                    return f"it guards a kernel launch (line {sub.lineno})"
                foreign = self._foreign_cuda_call(sub)
                if foreign:
                    return f"it guards a call of another package's CUDA API ({foreign} at line {sub.lineno})"
                root = sub.func
                while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                    root = root.func if isinstance(root, ast.Call) else root.value
                if isinstance(root, ast.Name) and root.id in self._imported_kernels():
                    line, rule_id = self._imported_kernels()[root.id]
                    return f"it guards a call into {root.id} ({rule_id}, imported at line {line})"
                func = sub.func
                name = func.id if isinstance(func, ast.Name) else (
                    func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in ("self", "cls") else "")
                if not name and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    name = func.value.id  # `UpFirDn2d.apply(...)`: a class of this file
                    name = name if name in self._cuda_functions() else ""
                if name and name in self._cuda_functions():
                    line, why = self._cuda_functions()[name]
                    return f"it guards {name}(), which holds CUDA-only code ({why} at line {line})"
        return ""

    def _after(self, stmt: ast.stmt) -> list[ast.stmt]:
        """The statements after this one in its block: what an assertion protects."""
        block = self.parents.get(id(stmt))
        for field in ("body", "orelse", "finalbody", "handlers"):
            statements = getattr(block, field, None)
            if isinstance(statements, list) and stmt in statements:
                return statements[statements.index(stmt) + 1:]
        return []

    def _governed(self, test: ast.If | ast.While) -> list[ast.stmt]:
        """The code whose running the test decides: both branches and, when the body always leaves the
        block (`if not torch.cuda.is_available(): return`), everything after the test in its block."""
        region = list(test.body) + list(test.orelse)
        if isinstance(test, ast.If) and isinstance(test.body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break)):
            region += self._after(test)
        return region

    def _imported_kernels(self) -> dict[str, tuple[int, str]]:
        """Names bound by imports of CUDA-only packages or extensions: name -> (line, rule id)."""
        if self._kernel_names is None:
            lines = {f.line: f for f in self.findings
                     if self.rules.get(f.rule_id) is not None and self.rules[f.rule_id].category == "kernels"}
            self._kernel_names = {}
            swapped = shapes.swapped_names(self.rules.values()) if lines else set()
            for node in statements(self.tree) if lines else ():
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno in lines:
                    for alias in node.names:
                        if shapes.swapped_import(node, alias, swapped):
                            continue  # the port imports porter's drop-in instead: it runs on Neuron
                        bound = alias.asname or alias.name.split(".")[0]
                        self._kernel_names[bound] = (node.lineno, lines[node.lineno].rule_id)
                elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                        and isinstance(node.value, ast.Call) and node.value.lineno in lines:
                    # `ext = load("ext", sources=[... .cu])`: the extension a build binds
                    self._kernel_names[node.targets[0].id] = (node.lineno, lines[node.value.lineno].rule_id)
        return self._kernel_names

    def _kernel_call_in(self, node: ast.AST) -> tuple[int, str] | None:
        """The first call into a CUDA-only package or extension inside `node`: (line, rule id)."""
        kernels = self._imported_kernels()
        for sub in walk(node) if kernels else ():
            if isinstance(sub, ast.Call):
                root = sub.func
                while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                    root = root.func if isinstance(root, ast.Call) else root.value
                if isinstance(root, ast.Name) and root.id in kernels:
                    return sub.lineno, kernels[root.id][1]
        return None

    # -- where the test stands --------------------------------------------------------------

    def reason(self, node: ast.AST, seen: frozenset[str] = frozenset()) -> str:
        """Why this device test must keep its CUDA meaning ("" when the rewrite keeps the meaning)."""
        child, parent = node, self.parents.get(id(node))
        combined = False
        while parent is not None:
            if isinstance(parent, ast.IfExp) and child is parent.test:
                why = self._cuda_only_code([parent.body]) or self._cuda_only_value(parent.body)
                return f"{why}: {KEPT}" if why else ""
            if isinstance(parent, ast.BoolOp):
                if shapes.other_backend_check(parent):
                    return ("it is weighed against another backend's check, and torch.accelerator counts that "
                            f"backend too: {KEPT}")
                combined = True
                choice = self._cuda_choice(parent)
                if choice:
                    return f"it is combined with the choice of the CUDA implementation ({choice}): {KEPT}"
            if isinstance(parent, ast.stmt):
                break
            child, parent = parent, self.parents.get(id(parent))
        if isinstance(parent, (ast.If, ast.While)) and child is parent.test:
            why = self._cuda_only_code(self._governed(parent))
            if why:
                return f"{why}: {KEPT}"
            return self._predicate(parent, seen) if isinstance(parent, ast.If) and shapes.answers(parent) else ""
        if isinstance(parent, ast.Assert):
            rest = self._after(parent)
            why = self._cuda_only_code(rest) if rest else ""
            if not why:
                return ""
            what = why.removeprefix("it guards ")
            # "it guards CUDA-only code (NRN128 at line 6)" names the code already: said once
            detail = what.removeprefix("CUDA-only code ") if what.startswith("CUDA-only code (") else f"({what})"
            return f"it asserts a precondition of CUDA-only code {detail}: {KEPT}"
        if combined and isinstance(parent, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return)):
            return (f"combined with other conditions it reads as a capability gate (can CUDA kernels run here), "
                    f"not a device test: {KEPT}")
        if isinstance(parent, ast.Assign) and not combined:
            return self._stored_test(node, parent, seen)
        if isinstance(parent, ast.Return) and not combined:
            return self._predicate(parent, seen)
        return ""

    def _predicate(self, stmt: ast.stmt, seen: frozenset[str]) -> str:
        """`def use_kernel(x): if x.device.type != "cuda": return False ...` (or `return x.is_cuda`):
        the function answers with the test, so its calls are where the test is read, like a stored one."""
        func = self.parents.get(id(stmt))
        while func is not None and not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = self.parents.get(id(func))
        if func is None or func.name in seen:
            return ""
        # every call is the whole test of an `if` (the parent map covers only the sites' surroundings:
        # the blocks are read here); each must decide whether CUDA-only code runs
        calls = sum(1 for n in walk(self.tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                    and n.func.id == func.name)
        whys = []
        for node in walk(self.tree):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if not isinstance(block, list):
                    continue
                for at, test in enumerate(block):
                    if isinstance(test, ast.If) and shapes.calls(test.test, func.name):
                        region = list(test.body) + list(test.orelse)
                        if isinstance(test.body[-1], (ast.Return, ast.Raise)):
                            region += block[at + 1:]
                        whys.append(self._cuda_only_code(region))
        if not whys or len(whys) != calls or not all(whys):
            return ""  # not called by name (a method), or some call is read otherwise
        return f"{func.name}() answers with it, and {whys[0]}: {KEPT}"

    def _cuda_choice(self, test: ast.BoolOp) -> str:
        """`impl == "cuda" and x.device.type == "cuda"`: the device test goes with a choice of
        implementation (a name also compared with "ref") that keeps "cuda"; it asks whether the CUDA
        kernels can run on this tensor, and a Neuron tensor must take the other path."""
        if not isinstance(test.op, ast.And):
            return ""
        compares = [v for v in test.values if isinstance(v, ast.Compare)]
        if not compares:
            return ""
        chosen = self._selectors().cuda_choice
        for value in compares:
            if id(value) in chosen:
                return f"`{ast.unparse(value)}`"
        return ""

    # -- a test kept in a variable, a value set up only for CUDA -------------------------------

    def _stored_test(self, node: ast.AST, assign: ast.Assign, seen: frozenset[str]) -> str:
        """`is_cuda = q.is_cuda` (alone or in a tuple): the test is read where the name is."""
        name = shapes.bound_name(node, assign, self.parents)
        if name is None or name in seen:
            return ""
        scope = self.parents.get(id(assign))
        while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            scope = self.parents.get(id(scope))
        if scope is None:
            return ""
        after = (assign.end_lineno or assign.lineno, assign.end_col_offset or 0)
        whys = [self.reason(sub, seen | {name}) for sub in walk(scope)
                if isinstance(sub, ast.Name) and sub.id == name and isinstance(sub.ctx, ast.Load)
                and (sub.lineno, sub.col_offset) > after]
        # A flag also read as a plain "which device" test (`model.to(dev) if on_gpu else model`) is
        # rewritten, its CUDA-only uses marked: it keeps its CUDA meaning only where every read needs it.
        return f"stored in `{name}`, {whys[0]}" if whys and all(whys) else ""

    def _cuda_only_value(self, chosen: ast.AST) -> str:
        """`self.cuda_config if is_cuda else ...`: an attribute the class sets (to anything but None)
        only in code a kept CUDA test governs is None on Neuron; the test that selects it stays."""
        if not (isinstance(chosen, ast.Attribute) and isinstance(chosen.value, ast.Name) and chosen.value.id == "self"):
            return ""
        owner = self.parents.get(id(chosen))
        while owner is not None and not isinstance(owner, ast.ClassDef):
            owner = self.parents.get(id(owner))
        if owner is None:
            return ""
        sets = [n for n in walk(owner) if isinstance(n, ast.Assign) and not shapes.is_none(n.value) and any(
            isinstance(t, ast.Attribute) and t.attr == chosen.attr and isinstance(t.value, ast.Name)
            and t.value.id == "self" for t in n.targets)]
        if not sets:
            return ""
        whys = [self._governing_test(s) for s in sets]
        if not all(whys):
            return ""
        return f"it selects self.{chosen.attr}, set only where a kept CUDA test allows ({whys[0]})"

    def _governing_test(self, stmt: ast.stmt) -> str:
        """The reason of a kept device test that decides whether `stmt` runs ("" when none does)."""
        child, parent = stmt, self.parents.get(id(stmt))
        while parent is not None and not isinstance(parent, ast.ClassDef):
            tests = [parent] if isinstance(parent, (ast.If, ast.While)) and child is not parent.test else []
            # `if not torch.cuda.is_available(): return` earlier in the same block
            tests += [s for s in self._before(child) if isinstance(s, ast.If) and s.body
                      and isinstance(s.body[-1], (ast.Return, ast.Raise))]
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
                tests = tests[1:] if tests and tests[0] is parent else tests
            for test in tests:
                for sub in walk(test.test):
                    i = self._device_tests().get(id(sub))
                    if i is not None and self.reason(sub):
                        return f"{self.findings[i].rule_id} at line {self.findings[i].line}"
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
            child, parent = parent, self.parents.get(id(parent))
        return ""

    def _before(self, stmt: ast.AST) -> list[ast.stmt]:
        block = self.parents.get(id(stmt))
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(block, field, None)
            if isinstance(statements, list) and stmt in statements:
                return statements[:statements.index(stmt)]
        return []

    def _device_tests(self) -> dict[int, int]:
        """The nodes of this file's device-test findings: id(node) -> finding index."""
        if self._tests is None:
            self._tests = {id(n): i for i, n in self.nodes.items()
                           if (r := self.rules.get(self.findings[i].rule_id)) is not None and r.device_test}
        return self._tests

    def apply(self) -> list[Finding | None]:
        """The findings, gated; None where a finding is dropped (the caller renumbers its nodes)."""
        # What each rule is, worked out once per rule, not once per finding (a dense file has tens
        # of thousands): (rule, a CPU test?, a device test, its fix moves a value to the device?)
        kinds = {rule_id: (rule, any(m.value == "cpu-device" for m in rule.matchers), rule.device_test,
                           "device" in rule.transforms)
                 for rule_id, rule in self.rules.items()}
        unknown = (None, False, False, False)
        # First the device tests: the ones that keep their CUDA meaning decide code that runs only on
        # CUDA, where the findings below keep their CUDA code too.
        kept: dict[int, str] = {}
        for i, finding in enumerate(self.findings):
            _, cpu_test, device_test, _ = kinds.get(finding.rule_id, unknown)
            node = self.nodes.get(i)
            if device_test and node is not None and not finding.manual and not cpu_test:
                why = self.reason(node)
                if why:
                    kept[i] = why
        # A device test this target's fix leaves as it is (`device_type == "cuda"` on `portable`,
        # marked) decides CUDA-only code too, with no reason of its own.
        unchanged = {i: "" for i, finding in enumerate(self.findings) if kinds.get(finding.rule_id, unknown)[2]
                     and i not in kept and i in self.nodes
                     and not self.rules[finding.rule_id].fix_for(self.target).available}
        regions = self._cuda_only_regions(kept | unchanged)
        out: list[Finding | None] = []
        for i, finding in enumerate(self.findings):
            rule, cpu_test, device_test, device_fix = kinds.get(finding.rule_id, unknown)
            node = self.nodes.get(i)
            if rule is not None and node is not None and cpu_test:
                if not self._cpu_test_before_cuda_code(node):
                    out.append(None)  # `device.type == "cpu"` choosing nothing CUDA-only: not reported
                    continue
            elif i in kept:
                finding = Finding(**{**finding.to_dict(), "manual": kept[i]})
            elif rule is not None and node is not None and not finding.manual and rule.category != "kernels" \
                    and regions and (why := self._in_cuda_only_region(finding, regions)):
                finding = Finding(**{**finding.to_dict(), "manual": why})
            elif device_test:
                pass  # a device test no CUDA-only code needs: rewritten as the rule says
            elif device_fix and node is not None and not finding.manual:
                why = self._kept_call_argument(node)
                if why:
                    finding = Finding(**{**finding.to_dict(), "manual": why})
            out.append(finding)
        return out

    # -- code that runs only where a kept CUDA test holds ---------------------------------------

    def _cuda_only_regions(self, kept: dict[int, str]) -> list[tuple[tuple[int, int], tuple[int, int], Finding]]:
        """The spans of code that runs only on CUDA because a device test that keeps its CUDA meaning
        decides it: the body of `if torch.cuda.is_available():`, the `else` of `if not ...`, what follows
        `if not torch.cuda.is_available(): return` or `assert device == "cuda"` in its block, the
        chosen value of `a if x.is_cuda else b`. A Neuron port never runs it; on a CUDA host it must do
        what the original did, so the CUDA calls in it stay."""
        regions = []
        for i in kept:
            decided = self._decided(self.nodes[i])
            if decided is None:
                continue
            owner, sign = decided
            parts: list[list[ast.AST]] = []
            if isinstance(owner, ast.IfExp):
                parts.append([owner.body if sign > 0 else owner.orelse])
            elif isinstance(owner, ast.Assert):
                parts.append(self._after(owner) if sign > 0 else [])
            elif sign > 0:
                parts.append(list(owner.body))
            else:
                parts.append(list(owner.orelse))
                if isinstance(owner.body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break)):
                    parts.append(self._after(owner))
            for part in parts:
                if part:
                    start, end = shapes.span(part)
                    regions.append((start, end, self.findings[i]))
        return regions

    def _decided(self, node: ast.AST) -> tuple[ast.AST, int] | None:
        """The `if`, `assert` or conditional expression whose test this device test is, and +1 when the
        test being true means CUDA, -1 when its being false does; None when it decides no branch alone
        (`device in ("cuda", "mps")`, `a or x.is_cuda`)."""
        sign = 1
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                return None
            sign = 1 if isinstance(node.ops[0], ast.Eq) else -1
        child, parent = node, self.parents.get(id(node))
        while parent is not None:
            if isinstance(parent, (ast.If, ast.Assert, ast.IfExp)) and child is parent.test:
                return parent, sign
            if isinstance(parent, ast.Call) and child is parent.func:
                pass  # `torch.cuda.is_available` called
            elif isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
                sign = -sign
            elif isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.And if sign > 0 else ast.Or):
                pass  # `a and cuda` true: CUDA; `a or not cuda` false: CUDA
            else:
                return None
            child, parent = parent, self.parents.get(id(parent))
        return None

    @staticmethod
    def _in_cuda_only_region(finding: Finding, regions) -> str:
        at = (finding.line, finding.col)
        for start, end, test in regions:
            if start <= at < end:
                return (f"it runs only on CUDA (the CUDA test at line {test.line} stays, {test.rule_id}): "
                        "the CUDA code stays")
        return ""

    def _cpu_test_before_cuda_code(self, node: ast.AST) -> bool:
        """`if x.device.type == "cpu": <fallback> else: <CUDA-only>` (or as a conditional expression):
        the comparison is the whole test of an `if` whose branches hold CUDA-only code."""
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.IfExp) and parent.test is node:
            return bool(self._cuda_only_code([parent.body]) or self._cuda_only_code([parent.orelse]))
        if isinstance(parent, ast.If) and parent.test is node:
            return bool(self._cuda_only_code(self._governed(parent)))
        return False

    def _kept_call_argument(self, node: ast.AST) -> str:
        """`torch.cuda.get_device_properties(torch.device("cuda"))`: the call stays CUDA (marked), so
        the device it is asked about must stay CUDA too (the CPU's properties do not exist)."""
        child, parent = node, self.parents.get(id(node))
        while parent is not None and not isinstance(parent, ast.stmt):
            if isinstance(parent, ast.Call) and child is not parent.func:
                start = (parent.func.lineno, parent.func.col_offset + 1)
                kept = [f for f in self._leftovers_in(start, (start[0], start[1] + 1))
                        if self.rules[f.rule_id].category != "kernels"]
                if kept:
                    return (f"it names the device of a CUDA-only call that stays ({kept[0].rule_id} at line "
                            f"{kept[0].line}): the CUDA device stays")
            child, parent = parent, self.parents.get(id(parent))
        return ""
