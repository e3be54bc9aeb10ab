"""Small libcst builders the upgrade's rewrites share: a `k=v` argument, a call without some
keywords, a statement from text."""

from __future__ import annotations

import libcst as cst


def kw(name: str, value: cst.BaseExpression) -> cst.Arg:
    """`name=value`, spaced as keyword arguments are."""
    return cst.Arg(value=value, keyword=cst.Name(name),
                   equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                         whitespace_after=cst.SimpleWhitespace("")))


def without(call: cst.Call, *keywords: str) -> cst.Call:
    """The call with the given keyword arguments dropped (no trailing comma left behind)."""
    args = [a for a in call.args if not (a.keyword is not None and a.keyword.value in keywords)]
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=args)


def parse_statement(text: str) -> cst.SimpleStatementLine:
    return cst.parse_statement(text)  # type: ignore[return-value]
