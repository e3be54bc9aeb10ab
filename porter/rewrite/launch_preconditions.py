"""`porter port --verify`: the `.is_cuda` tests port kept in front of a Triton launch, opened to Neuron
once the launch dispatches to its verified NKI translation.

Port keeps `assert x.is_cuda` (or `if x.is_cuda:`) where it guards a kernel launch `k[grid](...)`: False
on Neuron keeps Neuron tensors out of a CUDA kernel (rule NRN106, marked). When `--verify` has made that
launch `_porter_triton_launch(k, grid, "k")(...)`, which runs the NKI translation for tensors on a
Neuron (or XLA) device and the Triton kernel otherwise, the kept test would keep Neuron tensors from the
very translation that was verified for them. Such a read becomes
`(x.is_cuda or x.device.type in ("neuron", "xla"))`: the dispatcher's own condition, so a CUDA tensor
passes as before and a Neuron tensor reaches its translation.

A test is opened only when lint, run again on the dispatched file with the dispatcher left out, no
longer keeps it for any reason: the code it guards holds nothing else CUDA-only (a kernel that failed
verification, an extension call, another package's CUDA API). That lint leaves out the rule for the
`triton` package itself (`TRITON_RULE`): the dispatched path needs triton installed anyway (the kernel
objects are made by its decorators), and its host-side uses around a launch (`triton.cdiv` in a grid)
run on any machine that has it. Its receiver must be a name or a dotted name (read twice, so it must be
free of side effects); anything else stays as it was.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from porter.rewrite.linelength import wrap_marker
from porter.source.findings import Finding

RULE = "NRN106"
TRITON_RULE = "NRN406"  # left out of the lint that decides (see above)
DEVICES = '("neuron", "xla")'  # the device types `_porter_triton_launch` sends to the NKI translation
NOTE = (f"# porter: {RULE} .is_cuda: also true on a Neuron device, where the launch runs the verified NKI "
        "translation")

Lint = Callable[[str], list[Finding]]


def _dotted(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _marker_above(lines: list[str], stmt: ast.stmt) -> int | None:
    """The index of the NRN106 marker line in the comment block right above the statement, if any."""
    line = stmt.lineno - 2
    while line >= 0 and lines[line].lstrip().startswith("#"):
        if lines[line].lstrip().startswith(f"# porter: {RULE}"):
            return line
        line -= 1
    return None


def _sites(tree: ast.Module, lines: list[str]) -> list[tuple[ast.Attribute, int]]:
    """The `.is_cuda` reads of dotted names in statements under port's NRN106 marker, with its line."""
    found = []
    for stmt in ast.walk(tree):
        if not isinstance(stmt, (ast.Assert, ast.If, ast.While, ast.Expr, ast.Assign, ast.Return)):
            continue
        marker = _marker_above(lines, stmt)
        if marker is None:
            continue
        own = [stmt.test] if isinstance(stmt, (ast.Assert, ast.If, ast.While)) else [stmt]
        for part in own:
            for node in ast.walk(part):
                if isinstance(node, ast.Attribute) and node.attr == "is_cuda" and isinstance(node.ctx, ast.Load) \
                        and _dotted(node.value) and node.lineno == node.end_lineno:
                    found.append((node, marker))
    return found


def open_launch_preconditions(source: str, helper: str, lint: Lint, line_length: int | None = None) -> str:
    """`source` (a ported file whose launches `--verify` dispatched; `helper` the dispatcher's text in it)
    with each kept `.is_cuda` test that guards only dispatched launches opened to Neuron. `lint(text)`:
    the findings port's rules give for a text; `line_length`: the file's, for the new marker."""
    if "is_cuda" not in source or helper not in source:
        return source
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    sites = _sites(tree, lines)
    if not sites:
        return source
    # lint without the dispatcher (blank lines in its place keep the line numbers): a test that guards
    # only dispatched launches is then reported with its fix, kept for no reason
    start = source.index(helper)
    without = source[:start] + "\n" * helper.count("\n") + source[start + len(helper):]
    free = {(f.line, f.col) for f in lint(without) if f.rule_id == RULE and not f.manual}
    edits: list[tuple[int, int, int, str]] = []  # (line index, start col, end col, text), by character
    markers: set[int] = set()
    for node, marker in sites:
        text = lines[node.lineno - 1]
        col = len(text.encode("utf-8")[:node.col_offset].decode("utf-8"))
        end = len(text.encode("utf-8")[:node.end_col_offset].decode("utf-8"))
        if (node.lineno, end - len("is_cuda") + 1) not in free:  # lint's column is the attribute's
            continue
        receiver = ast.get_source_segment(source, node.value)
        edits.append((node.lineno - 1, col, end,
                       f"({receiver}.is_cuda or {receiver}.device.type in {DEVICES})"))
        markers.add(marker)
    for index, col, end, new in sorted(edits, reverse=True):
        lines[index] = lines[index][:col] + new + lines[index][end:]
    for index in sorted(markers, reverse=True):
        marker = lines[index]
        indent = marker[: len(marker) - len(marker.lstrip())]
        newline = "\r\n" if marker.endswith("\r\n") else "\n"
        end = index + 1  # the old marker's continuation lines (`#   ...`) go with it
        while end < len(lines) and lines[end].startswith(indent + "#   "):
            end += 1
        note = wrap_marker(NOTE, line_length - len(indent)) if line_length else NOTE
        lines[index:end] = [f"{indent}{part}{newline}" for part in note.split("\n")]
    return "".join(lines)
