"""Finding sites in libcst trees: the statement, call and enclosing node of a site."""

from __future__ import annotations

import dataclasses

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


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def parent_map(module: cst.Module) -> dict[cst.CSTNode, cst.CSTNode]:
    """Every node's parent, as libcst's ParentNodeProvider gives it, from the nodes' dataclass
    fields directly: a generic visitor pass was a third of a port's libcst time."""
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [module]
    node_type = cst.CSTNode
    while stack:
        node = stack.pop()
        names = _CHILD_FIELDS.get(type(node))
        if names is None:
            names = _CHILD_FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
        for name in names:
            value = getattr(node, name)
            if isinstance(value, node_type):
                parents[value] = node
                stack.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, node_type):
                        parents[item] = node
                        stack.append(item)
    return parents
