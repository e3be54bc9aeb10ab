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
