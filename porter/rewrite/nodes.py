"""Finding sites in libcst trees: the statement, call and enclosing node of a site."""

from __future__ import annotations

import libcst as cst


def _statement_of(node: cst.CSTNode, parents: dict) -> cst.CSTNode | None:
    while node is not None:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return node
        node = parents.get(node)
    return None


def _method_call(node: cst.CSTNode, parents: dict) -> cst.CSTNode:
    """A method finding points at the method's name: widen it to the call (or the attribute)."""
    if isinstance(node, cst.Name):
        attribute = parents.get(node)
        if isinstance(attribute, cst.Attribute) and attribute.attr is node:
            call = parents.get(attribute)
            if isinstance(call, cst.Call) and call.func is attribute:
                return call
            return attribute
    return node


def _call_of(node: cst.CSTNode, parents: dict) -> cst.CSTNode:
    """The call a callee name or an argument belongs to."""
    if isinstance(node, cst.Call):
        return node  # already a call: never widen to a call it is an argument of
    parent = parents.get(node)
    if isinstance(parent, cst.Call) and (parent.func is node or node in parent.args):
        return parent
    if isinstance(parent, cst.Arg):
        grand = parents.get(parent)
        if isinstance(grand, cst.Call):
            return grand
    return node


def _inside(node: cst.CSTNode, parents: dict, kind: type) -> bool:
    while node is not None and not isinstance(node, cst.BaseStatement):
        node = parents.get(node)
        if isinstance(node, kind):
            return True
    return False


def _stands_alone(node: cst.CSTNode, parents: dict) -> bool:
    """Is the node a whole expression that no operator or neighbour binds to: the test of an
    `if`/`elif`/`while`/`assert`, the value of an assignment, `return` or `yield`, a call's argument,
    an element of a list, tuple or set, an expression statement? A replacement there needs no
    parentheses of its own (`if x.is_cuda:` becomes `if x.device.type == "neuron":`)."""
    parent = parents.get(node)
    if isinstance(parent, (cst.If, cst.While, cst.Assert)):
        return parent.test is node
    if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.Return, cst.Yield, cst.Expr)):
        return parent.value is node
    if isinstance(parent, cst.Arg):
        return parent.value is node and not parent.star and isinstance(parents.get(parent), cst.Call)
    if isinstance(parent, cst.Element):
        return isinstance(parents.get(parent), (cst.List, cst.Tuple, cst.Set))
    return False


class RemovedLine(cst.SimpleStatementLine):
    """A statement a fix removed, standing in its block until the block is settled (`settle_removed`)."""

    def _is_removable(self) -> bool:  # libcst drops a line whose body is empty, with its leading lines
        return False


def removed(line: cst.SimpleStatementLine) -> RemovedLine:
    return RemovedLine(body=line.body, leading_lines=line.leading_lines, trailing_whitespace=line.trailing_whitespace)


def _blanks_before(lines: list[cst.EmptyLine]) -> int:
    count = 0
    while count < len(lines) and lines[count].comment is None:
        count += 1
    return count


def _from_first_comment(lines: list[cst.EmptyLine]) -> list[cst.EmptyLine]:
    return lines[_blanks_before(lines):]


def _above_removed(lines: list[cst.EmptyLine], first: bool) -> list[cst.EmptyLine]:
    """What stays of the lines above a removed statement: the comments right above it (no blank line
    between: they are about it, porter's markers too) go with it; of a statement removed right after
    another, the blank lines before its first comment (they only separated the two) go too."""
    cut = len(lines)
    while cut and lines[cut - 1].comment is not None:
        cut -= 1
    return list(lines[:cut]) if first else _from_first_comment(lines[:cut])


def _join(above: list[cst.EmptyLine], lines: list[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """`above` then `lines`, a run of blank lines where they meet as long as the longer of the two."""
    trailing = _blanks_before(above[::-1])
    leading = _blanks_before(lines)
    if not trailing or not leading:
        return [*above, *lines]
    return [*above[:len(above) - trailing], *lines] if leading >= trailing else [*above, *lines[leading:]]


def settle_removed(node: cst.CSTNode) -> cst.CSTNode:
    """A module or indented block without the statements removed from it (`RemovedLine`). The lines
    above a removed statement stay with the statement after it: the blank lines that separated it from
    the statement before, and comments set apart by a blank line (a section's heading); the comments
    right above it go with it (`# cache compiled graphs` / a removed setting). A block's new first
    statement gets no blank line under the header; comments left after the block's last statement stay
    at its end; a block left empty gets `pass`."""
    if not isinstance(node, (cst.Module, cst.IndentedBlock)) or not any(isinstance(s, RemovedLine) for s in node.body):
        return node
    in_block = isinstance(node, cst.IndentedBlock)
    body: list[cst.BaseStatement] = []
    pending: list[cst.EmptyLine] | None = None  # what stays above the statements removed since the last kept one
    for stmt in node.body:
        if isinstance(stmt, RemovedLine):
            pending = [*(pending or ()), *_above_removed(list(stmt.leading_lines), first=pending is None)]
            continue
        if pending is not None:
            lines = _join(pending, list(stmt.leading_lines))
            stmt = stmt.with_changes(leading_lines=_from_first_comment(lines) if in_block and not body else lines)
            pending = None
        body.append(stmt)
    # after the last statement: its comments (with the blank lines before them), no trailing blank line
    left = list(pending or ()) if any(line.comment is not None for line in pending or ()) else []
    while left and left[-1].comment is None:
        left.pop()
    if in_block and not body:
        only = cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=_from_first_comment(left))
        return node.with_changes(body=[only])
    return node.with_changes(body=body, footer=[*left, *node.footer])
