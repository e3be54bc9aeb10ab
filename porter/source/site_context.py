"""Where a node stands in its file, answered from the parent map the walk records: is it a whole
statement, a value passed on or a key, can it reach the device, is its import already guarded, what
calls it, which `# porter: NRNxxx` markers sit above its statement. Functions of the tree, no rule state.
"""

from __future__ import annotations

import ast
import re

from porter.source.astwalk import walk as walk_nodes
from porter.source.predicates import string_value

# The marker `porter port` leaves above a statement it could not fix: `# porter: NRN131 <what to do>`.
MARKER = re.compile(r"#\s*porter:\s*(NRN\d{3})\b")
PORTER_HELPER_PREFIX = "_porter_"
# Calls after which a tensor is on the host (or no tensor at all).
CPU_SIDE_METHODS = frozenset({"cpu", "numpy", "tolist", "item"})
# Words in a name that hold a device (or backend) string: `"cuda" in args.device` tests a device.
_DEVICE_WORDS = ("dev", "type", "accel", "backend")


def whole_statement(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Is this construct all its statement does: `flag = True` assigned to it, or it called alone?"""
    parent = parents.get(id(node))
    if isinstance(parent, ast.Call) and parent.func is node:
        node, parent = parent, parents.get(id(parent))
        return isinstance(parent, ast.Expr)
    if isinstance(parent, ast.Assign):
        return parent.targets == [node]
    return isinstance(parent, (ast.AugAssign, ast.AnnAssign)) and parent.target is node


def value_position(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Is this literal a value that flows on as such (assigned, returned, a default, a keyword
    argument, an argument of a device call) rather than text printed, keyed or listed?"""
    child, parent = node, parents.get(id(node))
    while isinstance(parent, (ast.IfExp, ast.BoolOp)) and child is not getattr(parent, "test", None):
        child, parent = parent, parents.get(id(parent))
    if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return parent.value is child
    if isinstance(parent, (ast.Return, ast.keyword, ast.arguments, ast.Lambda)):
        return True
    if isinstance(parent, ast.Dict) and child in parent.values:
        # `{"device": "cuda"}`: a config entry named for a device (or backend) is a value
        key = parent.keys[parent.values.index(child)]
        text = string_value(key) if key is not None else None
        return text is not None and ("device" in text.lower() or "backend" in text.lower())
    if isinstance(parent, ast.Call) and child in parent.args:
        func = parent.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("to", "cuda") or "device" in name.lower()
    return False


def is_label(node: ast.AST, text: str, parents: dict[int, ast.AST]) -> bool:
    """A bare device-kind string used as a key: a dict key or a subscript. An indexed one
    (`{"cuda:1": "cuda:0"}`, a map_location) still names a device."""
    if text.strip().lower() not in ("cuda", "nccl"):
        return False
    parent = parents.get(id(node))
    if isinstance(parent, ast.Dict):
        return any(k is node for k in parent.keys)
    if isinstance(parent, ast.Compare) and parent.left is node and len(parent.ops) == 1 \
            and isinstance(parent.ops[0], (ast.In, ast.NotIn)):
        return is_table(parent.comparators[0])  # `"cuda" in BACKENDS`: a key looked up
    return isinstance(parent, ast.Subscript) and parent.slice is node


def markers_above(node: ast.AST, parents: dict[int, ast.AST], tree: ast.Module | None,
                  lines: list[str]) -> set[str]:
    """The rule ids of the marker comments right above the statement holding `node` (and above
    the `try:` a guarded import is the first statement of, where port puts its marker)."""
    stmt = node
    while stmt is not None and not isinstance(stmt, ast.stmt):
        stmt = parents.get(id(stmt))
    if stmt is None and hasattr(node, "lineno"):  # a node the walk kept no parent for
        stmt = _statement_at(tree, node.lineno)
    found: set[str] = set()
    while isinstance(stmt, ast.stmt):
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
        line = start - 1
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            found.update(MARKER.findall(lines[line - 1]))
            line -= 1
        parent = parents.get(id(stmt))
        stmt = parent if isinstance(parent, ast.Try) and parent.body and parent.body[0] is stmt else None
    return found


def reaches_device(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Can the value at `node` reach the device? Not in a dtype table or comparison, not in
    code that keeps it on the CPU (`device="cpu"`, `.cpu()`, `.numpy()`), and not while a
    module is built (`__init__`: tables computed once, then cast)."""
    child, parent = node, parents.get(id(node))
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Compare)):
            return False
        if isinstance(parent, ast.Call):
            if any(k.arg == "device" and _names_cpu(k.value) for k in parent.keywords):
                return False
            func = parent.func
            if isinstance(func, ast.Attribute) and func.attr in CPU_SIDE_METHODS:
                return False
        if isinstance(parent, ast.Attribute) and parent.value is child and parent.attr in CPU_SIDE_METHODS:
            return False
        child, parent = parent, parents.get(id(parent))
    receiver = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
    for sub in walk_nodes(receiver) if receiver is not None else ():
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "cpu":
            return False
    while parent is not None:
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return parent.name != "__init__"
        parent = parents.get(id(parent))
    return True


def wrapped_by_porter(call: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """`_porter_loader(DataLoader(...))`: a call a port already wrapped in one of its helpers."""
    outer = parents.get(id(call))
    return (
        isinstance(outer, ast.Call)
        and isinstance(outer.func, ast.Name)
        and outer.func.id.startswith(PORTER_HELPER_PREFIX)
        and call in outer.args
    )


def call_context(node: ast.AST, parent: ast.AST | None, parents: dict[int, ast.AST]) -> str:
    """How `node` (whose parent is `parent`) is used: "decorator", "call" (the callee) or "reference"."""
    if isinstance(parent, ast.Call) and parent.func is node:
        grand = parents.get(id(parent))
        if grand is not None and parent in getattr(grand, "decorator_list", ()):
            return "decorator"
        return "call"
    if parent is not None and node in getattr(parent, "decorator_list", ()):
        return "decorator"
    return "reference"


def guarded_by_user(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Is this import in the body of a `try` that catches ImportError (or any exception)?"""
    child, parent = node, parents.get(id(node))
    while parent is not None and not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                caught = handler.type
                names = {getattr(n, "id", getattr(n, "attr", "")) for n in (
                    caught.elts if isinstance(caught, ast.Tuple) else [caught])} if caught else {"Exception"}
                if names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}:
                    return True
        child, parent = parent, parents.get(id(parent))
    return False


def _names_cpu(value: ast.AST) -> bool:
    text = string_value(value)
    if text is None and isinstance(value, ast.Call) and value.args:  # torch.device("cpu")
        text = string_value(value.args[0])
    return text is not None and text.split(":")[0] == "cpu"


def _statement_at(tree: ast.AST, line: int) -> ast.stmt | None:
    """The innermost statement spanning `line` (a walk down the statements only)."""
    blocks = (ast.stmt, ast.excepthandler, ast.match_case)
    found, nodes = None, list(ast.iter_child_nodes(tree))
    while nodes:
        node = nodes.pop()
        if isinstance(node, blocks) and node.lineno <= line <= (node.end_lineno or line):
            if isinstance(node, ast.stmt):
                found = node
            nodes = [n for n in ast.iter_child_nodes(node) if isinstance(n, blocks)]
    return found


def is_table(node: ast.AST) -> bool:
    """Is `"cuda" in node` a lookup in a table (a literal container, or a name that does not read
    as a device string: `BACKENDS`, `names`) rather than a test of a device string?"""
    if isinstance(node, (ast.Dict, ast.Set, ast.List, ast.Tuple, ast.DictComp, ast.SetComp, ast.ListComp)):
        return True
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name is None:
        return False
    lower = name.lower()
    if "dev" in lower:
        return False  # a device string, or a list of devices (`"cuda" in devices` asks about CUDA)
    plural = lower.endswith("s") and not lower.endswith("ss")  # `BACKENDS`, `types`: a collection
    return plural or not any(word in lower for word in _DEVICE_WORDS)
