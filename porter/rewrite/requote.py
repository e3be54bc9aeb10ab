"""Fixes inside f-strings take the other quote (Python < 3.12 cannot parse an f-string's own quote there)."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst


def _fstring_quote(node: cst.CSTNode, parents: dict) -> str:
    """The quote character of the f-string this node sits in, if any ("" outside f-strings)."""
    while node is not None and not isinstance(node, cst.BaseStatement):
        node = parents.get(node)
        if isinstance(node, cst.FormattedString):
            return node.start.lstrip("rRfFbBuU")[:1]
    return ""


class _Requote(cst.CSTTransformer):
    """Before Python 3.12 an f-string's expressions cannot hold its own quote character: a string
    a fix writes there (`== "neuron"`) takes the other quote."""

    def __init__(self, quote: str) -> None:
        self.quote, self.other = quote, "'" if quote == '"' else '"'

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        prefix = updated.prefix
        body = updated.value[len(prefix):]
        if body[:1] != self.quote or body[:3] == self.quote * 3:
            return updated
        inner = body[1:-1]
        if self.other in inner or "\\" in inner:
            return updated
        return updated.with_changes(value=f"{prefix}{self.other}{inner}{self.other}")


def _requoting(edit: Callable, quote: str) -> Callable:
    return lambda node: edit(node).visit(_Requote(quote))
