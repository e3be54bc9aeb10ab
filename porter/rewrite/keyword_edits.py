"""Setting and dropping keyword arguments of a call in its own layout (the `keywords` fixes).

A call's arguments keep their comments, a trailing comma stays, and a new keyword goes where its
siblings are (its own line in a call laid out one argument per line). A safe fix never overwrites
the program's own expression for a keyword it sets: the site is marked instead.
"""

from __future__ import annotations

import re

import libcst as cst

from porter.rewrite.transforms import CannotFix, FileContext, code_of, expr


def _has_comment(ws: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(ws, cst.ParenthesizedWhitespace) and (
        ws.first_line.comment is not None or any(line.comment is not None for line in ws.empty_lines))


def _line_break_only(ws: cst.BaseParenthesizableWhitespace) -> cst.BaseParenthesizableWhitespace:
    """The same line break and indentation, without the comment at the end of the line."""
    if isinstance(ws, cst.ParenthesizedWhitespace):
        return ws.with_changes(first_line=cst.TrailingWhitespace())
    return ws


def _join_ws(own: cst.BaseParenthesizableWhitespace, following: cst.BaseParenthesizableWhitespace,
             keep_own_lines: bool) -> cst.BaseParenthesizableWhitespace:
    """`own`'s end-of-line comment (and, if asked, the comment lines after it), then `following`'s
    line break and indentation: an argument keeps its comment when what comes after it changes."""
    if not isinstance(own, cst.ParenthesizedWhitespace):
        return following
    lines = list(own.empty_lines) if keep_own_lines else []
    if isinstance(following, cst.ParenthesizedWhitespace):
        return following.with_changes(first_line=own.first_line, empty_lines=[*lines, *following.empty_lines])
    # The next thing sat on the same line: it now starts a line at the statement's indentation.
    return cst.ParenthesizedWhitespace(first_line=own.first_line, empty_lines=lines, indent=True,
                                       last_line=cst.SimpleWhitespace(""))


def _tail(arg: cst.Arg) -> cst.BaseParenthesizableWhitespace:
    """What follows an argument up to the next one (or the closing parenthesis)."""
    return arg.comma.whitespace_after if isinstance(arg.comma, cst.Comma) else arg.whitespace_after_arg


def _sibling_break(node: cst.Call, args: list[cst.Arg]) -> cst.BaseParenthesizableWhitespace:
    """The whitespace that leads from one argument to the next: a line break and the arguments'
    indentation in a call laid out one argument per line, else a space."""
    candidates = [a.comma.whitespace_after for a in args[:-1] if isinstance(a.comma, cst.Comma)]
    candidates.append(node.whitespace_before_args)
    for ws in candidates:
        if isinstance(ws, cst.ParenthesizedWhitespace):
            return cst.ParenthesizedWhitespace(indent=ws.indent, last_line=ws.last_line)
    return cst.SimpleWhitespace(" ")


def _drop_keywords(node: cst.Call, drop: list[str]) -> list[cst.Arg]:
    """The call's arguments without the dropped keywords, each kept argument with its comment."""
    original = list(node.args)
    args = [a for a in original if not (a.keyword is not None and a.keyword.value in drop)]
    if not args or args[-1] is original[-1]:
        return args  # dropping inside the list: each kept argument keeps its own comma and comment
    # The old last argument is gone: the new last one takes over its ending (trailing comma or not,
    # the line break before the `)`), keeping its own comment.
    last, old_last = args[-1], original[-1]
    # (A comma left to libcst's default, after an earlier rewrite of this call, has no whitespace.)
    last_comma = last.comma if isinstance(last.comma, cst.Comma) else cst.Comma()
    own = last_comma.whitespace_after
    if isinstance(old_last.comma, cst.Comma) or _has_comment(own):
        closing = _tail(old_last)
        comma = last_comma.with_changes(whitespace_after=_join_ws(own, closing, keep_own_lines=True))
        args[-1] = last.with_changes(comma=comma)
    else:
        args[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT,
                                     whitespace_after_arg=old_last.whitespace_after_arg)
    return args


def _add_keyword(node: cst.Call, args: list[cst.Arg], name: str, value: cst.BaseExpression) -> list[cst.Arg]:
    """Append `name=value` in the call's own layout: on its own line at the arguments' indentation
    in a multi-line call, with the trailing comma if the call had one."""
    new = cst.Arg(value, keyword=cst.Name(name),
                  equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    if not args:
        return [new]
    last = args[-1]
    tail = _tail(last)
    had_comma = isinstance(last.comma, cst.Comma)
    comma = last.comma if had_comma else cst.Comma()
    # The old last argument keeps its comment; the line break before `)` moves after the new one.
    last = last.with_changes(
        comma=comma.with_changes(whitespace_after=_join_ws(tail, _sibling_break(node, args), keep_own_lines=False)),
        whitespace_after_arg=last.whitespace_after_arg if had_comma else cst.SimpleWhitespace(""),
    )
    closing = _line_break_only(tail)
    if had_comma:
        new = new.with_changes(comma=cst.Comma(whitespace_after=closing))
    else:
        new = new.with_changes(whitespace_after_arg=closing)
    return [*args[:-1], last, new]


def is_literal(node: cst.BaseExpression) -> bool:
    """A constant the fix may replace (`"inductor"`, `True`, `4`), as opposed to the program's own
    expression (`backend`, `cfg.mode`, `dtype == "float16"`), which a safe fix keeps."""
    if isinstance(node, (cst.SimpleString, cst.Integer, cst.Float, cst.ConcatenatedString)):
        return True
    return isinstance(node, cst.Name) and node.value in ("True", "False", "None")


def own_values(node: cst.CSTNode) -> dict[str, str]:
    """The keywords a call passes an expression of its own (not a literal, nor what an earlier
    port wrote with porter's helpers): keyword -> code."""
    if not isinstance(node, cst.Call):
        return {}
    return {a.keyword.value: code for a in node.args if a.keyword is not None and not is_literal(a.value)
            for code in [code_of(a.value)] if not re.search(r"\b_porter_\w+\(", code)}


def keywords_transform(node: cst.Call, ctx: FileContext, set_: dict[str, str], drop: list[str],
                       keep: dict[str, str] | None = None) -> cst.Call:
    """Set and drop keyword arguments of a call, keeping its layout: comments stay with their
    arguments, a trailing comma stays, a new keyword goes where its siblings are. `keep` (for a
    safe fix: the program's own expressions, `own_values` of the call as written) is never
    overwritten: the site is marked instead."""
    if not isinstance(node, cst.Call):
        raise CannotFix("keywords needs a call")
    for name in set_:
        if keep and name in keep:
            raise CannotFix(f"`{name}={keep[name]}` is the program's own value, kept")
    args = _drop_keywords(node, drop)
    for name, code in set_.items():
        value = expr(ctx.render(code))
        present = {a.keyword.value: i for i, a in enumerate(args) if a.keyword is not None}
        if name in present:
            args[present[name]] = args[present[name]].with_changes(value=value)
        else:
            args = _add_keyword(node, args, name, value)
    return node.with_changes(args=args)
