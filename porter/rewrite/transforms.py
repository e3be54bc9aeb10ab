"""The fix kinds a rule's `[rule.fix.<target>]` table can name with `transform = "..."`.

Each transform gets the libcst node a finding points at (already rewritten inside, when fixes
nest) and returns its replacement, or raises CannotFix when this site's shape is one it does not
handle: the port then leaves a marker instead of guessing. Code templates may use `{torch}` (the
file's name for the torch module), `{device}` (a call of the device helper) and `{args}` (the
original call's arguments), `{receiver}` (what an attribute is read from), `{attr}` (the last part
of the matched name) and `{dtype}` (the dtype a legacy tensor type names). The `keywords` fix lives
in keyword_edits.py, the import split of a kernel swap in import_split.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst
from libcst.helpers import get_full_name_for_node

from porter.rewrite.helpers import DEVICE_HELPER, EXTRA_HELPERS, USES_DEVICE_HELPER
from porter.rewrite.nodes import removed
from porter.rewrite.parsing import parse_expression, parse_statement
from porter.source.predicates import CUDA_DEVICE

# Legacy tensor types name a dtype: torch.cuda.HalfTensor is float16 on the GPU.
TENSOR_TYPE_DTYPES = {
    "HalfTensor": "float16", "BFloat16Tensor": "bfloat16", "FloatTensor": "float32", "DoubleTensor": "float64",
    "LongTensor": "int64", "IntTensor": "int32", "ShortTensor": "int16", "CharTensor": "int8",
    "ByteTensor": "uint8", "BoolTensor": "bool",
}


COMPAT_NAME = re.compile(r"\b(porter\.kernels\.compat(?:\.\w+)*)\.\w+\b")


class CannotFix(Exception):
    """This site cannot be rewritten by this transform; the message says why."""


@dataclass
class FileContext:
    """What transforms need to know about, or add to, the file being ported."""

    # The file's own name for the torch module (`import torch as T` makes it "T").
    torch_alias: str = "torch"
    uses_torch: bool = False
    needs_device_helper: bool = False
    extra_helpers: set[str] = field(default_factory=set)
    # Modules a rendered template refers to by full dotted path (`porter.kernels.compat.sdpa.f`).
    imports: set[str] = field(default_factory=set)

    def render(self, template: str, args: str = "", **values: str) -> str:
        if "{device}" in template or f"{DEVICE_HELPER}(" in template:
            self.needs_device_helper = True
        if "{torch}" in template or "{device}" in template:
            self.uses_torch = True
        for name in EXTRA_HELPERS:
            if re.search(rf"\b{name}\b", template):
                self.extra_helpers.add(name)
                self.uses_torch = True
                if name in USES_DEVICE_HELPER:
                    self.needs_device_helper = True
        for match in COMPAT_NAME.finditer(template):
            self.imports.add(match.group(1))
        if not args:  # a call without arguments: `f({device}.type, {args})` must not become `f(x, )`
            template = re.sub(r"\s*,\s*\{args\}|\{args\}\s*,\s*", "", template)
        try:
            return template.format(torch=self.torch_alias, device=f"{DEVICE_HELPER}()", args=args, **values)
        except KeyError as exc:
            raise CannotFix(f"placeholder {{{exc.args[0]}}} has no value at this site") from None

    def device_call(self, index: cst.BaseExpression | None) -> cst.Call:
        self.needs_device_helper = True
        self.uses_torch = True
        args = [cst.Arg(index)] if index is not None else []
        return cst.Call(func=cst.Name(DEVICE_HELPER), args=args)


def expr(code: str) -> cst.BaseExpression:
    return parse_expression(code)


def code_of(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _string_text(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value if isinstance(node.evaluated_value, str) else None
    if isinstance(node, cst.FormattedString) and all(isinstance(p, cst.FormattedStringText) for p in node.parts) \
            and "\\" not in "".join(p.value for p in node.parts):
        # `f"cuda"`: an f-string without fields is the plain string it spells
        return "".join(p.value for p in node.parts).replace("{{", "{").replace("}}", "}")
    return None


def device_index(node: cst.BaseExpression) -> tuple[bool, cst.BaseExpression | None]:
    """Is this a CUDA device expression, and which index does it name (None: the current one)?"""
    text = _string_text(node)
    if text is not None:
        match = CUDA_DEVICE.match(text.strip())
        if not match:
            return False, None
        return True, (cst.Integer(match.group(1)[1:]) if match.group(1) else None)
    if isinstance(node, cst.FormattedString):
        parts = node.parts
        if (
            len(parts) == 2
            and isinstance(parts[0], cst.FormattedStringText)
            and parts[0].value == "cuda:"
            and isinstance(parts[1], cst.FormattedStringExpression)
            and parts[1].format_spec is None
            and parts[1].conversion is None
        ):
            return True, parts[1].expression
        return False, None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
        # "cuda:%d" % rank
        if _string_text(node.left) in ("cuda:%d", "cuda:%s", "cuda:%i") and not isinstance(node.right, cst.Tuple):
            return True, node.right
        return False, None
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format"
            and _string_text(node.func.value) in ("cuda:{}", "cuda:{0}") and len(node.args) == 1
            and node.args[0].keyword is None and not node.args[0].star):
        # "cuda:{}".format(rank)
        return True, node.args[0].value
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        if _string_text(node.left) == "cuda:":
            right = node.right
            # "cuda:" + str(rank) names device `rank`
            if isinstance(right, cst.Call) and isinstance(right.func, cst.Name) and right.func.value == "str" \
                    and len(right.args) == 1:
                return True, right.args[0].value
        return False, None
    if isinstance(node, cst.Call) and is_torch_device(node.func):
        args = node.args
        if not args or args[0].keyword not in (None,) and args[0].keyword.value != "type":
            return False, None
        ok, index = device_index(args[0].value)
        if not ok:
            return False, None
        if len(args) > 1 and index is None:
            return True, args[1].value
        return True, index
    return False, None


def is_availability_check(node: cst.BaseExpression) -> bool:
    """`torch.cuda.is_available()` (or the `torch.accelerator` spelling a port gave it)."""
    return (isinstance(node, cst.Call) and not node.args
            and code_name(node.func).endswith(("cuda.is_available", "accelerator.is_available")))


def device_choice(node: cst.IfExp, ctx: FileContext, as_string: bool) -> cst.BaseExpression:
    """`"cuda" if args.cuda else "cpu"`: the user's choice stays; only its CUDA arm becomes the device.

    `"cuda" if torch.cuda.is_available() else "cpu"` is exactly what the helper does (the device,
    else the CPU), so it becomes one helper call.
    """
    body_ok, index = device_index(node.body)
    if body_ok and is_availability_check(node.test) and _string_text(node.orelse) == "cpu":
        device = ctx.device_call(index)
        return cst.Call(cst.Name("str"), [cst.Arg(device)]) if as_string else device

    def arm(value: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(value, cst.IfExp) or device_index(value)[0]:
            return device_transform(value, ctx, as_string=as_string)
        return value

    body, orelse = arm(node.body), arm(node.orelse)
    if body is node.body and orelse is node.orelse:
        raise CannotFix("no CUDA device in either arm of this choice")
    return node.with_changes(body=body, orelse=orelse)


def is_device_helper_call(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == DEVICE_HELPER


def is_current_device_call(node: cst.CSTNode) -> bool:
    """`torch.cuda.current_device()`: where a device is wanted, the helper's current device says the same."""
    return isinstance(node, cst.Call) and not node.args and code_name(node.func).endswith("cuda.current_device")


def is_torch_device(func: cst.BaseExpression) -> bool:
    return (isinstance(func, cst.Attribute) and func.attr.value == "device"
            and isinstance(func.value, cst.Name)) or (isinstance(func, cst.Name) and func.value == "device")


def device_transform(node: cst.CSTNode, ctx: FileContext, keyword: bool = False, as_string: bool = False,
                     as_index: bool = False) -> cst.CSTNode:
    """`.cuda(i)` → `.to(_porter_device(i))`; "cuda:0", f"cuda:{r}", torch.device("cuda") → `_porter_device(...)`.

    `keyword` writes `.to(device=...)`, the one spelling storages accept too (a `map_location`
    lambda gets storages); `as_string` keeps a string a string: `str(_porter_device(i))`;
    `as_index` takes any other value for a device index (or a device) and keeps it:
    `device_id=rank` → `device_id=_porter_device(rank)`.
    """
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "cuda":
        positional = [a for a in node.args if a.keyword is None and not a.star]
        by_name = {a.keyword.value: a for a in node.args if a.keyword is not None}
        if set(by_name) - {"device", "non_blocking"} or len(positional) > 2 or any(a.star for a in node.args):
            raise CannotFix("`.cuda()` with arguments porter does not map")
        index = positional[0].value if positional else (by_name["device"].value if "device" in by_name else None)
        if (isinstance(index, cst.Call) and isinstance(index.func, cst.Name) and index.func.value == "str"
                and len(index.args) == 1 and is_device_helper_call(index.args[0].value)):
            index = index.args[0].value  # `.cuda("cuda:0")` whose string became `str(_porter_device(0))` first
        if index is not None and is_current_device_call(index):
            index = None  # `.cuda(torch.cuda.current_device())` is the current device
        if index is not None and is_device_helper_call(index):
            device = index  # `.cuda("cuda:0")` whose string was rewritten first
        elif index is not None and device_index(index)[0]:
            device = ctx.device_call(device_index(index)[1])
        else:
            device = ctx.device_call(index)
        new_args = [cst.Arg(device, keyword=cst.Name("device"),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
                    if keyword else cst.Arg(device)]
        if "non_blocking" in by_name:
            new_args.append(by_name["non_blocking"].with_changes(comma=cst.MaybeSentinel.DEFAULT))
        elif len(positional) == 2:
            new_args.append(cst.Arg(positional[1].value, keyword=cst.Name("non_blocking"),
                                    equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
        return node.with_changes(func=node.func.with_changes(attr=cst.Name("to")), args=new_args)
    if isinstance(node, cst.Arg):
        return node.with_changes(value=device_transform(node.value, ctx, keyword, as_string, as_index))
    if isinstance(node, cst.IfExp):
        return device_choice(node, ctx, as_string)
    if (isinstance(node, cst.Call) and is_torch_device(node.func) and len(node.args) == 1
            and node.args[0].keyword is None and isinstance(node.args[0].value, cst.IfExp)):
        # torch.device("cuda" if args.cuda else "cpu"): the choice inside is rewritten, arm by arm
        choice = device_choice(node.args[0].value, ctx, as_string=False)
        if is_device_helper_call(choice):
            return choice
        return node.with_changes(args=[node.args[0].with_changes(value=choice)])
    if isinstance(node, cst.BaseExpression):
        ok, index = device_index(node)
        if ok:
            device = ctx.device_call(index)
            if as_string:
                device = cst.Call(cst.Name("str"), [cst.Arg(device)])
            return device.with_changes(lpar=node.lpar, rpar=node.rpar) if getattr(node, "lpar", None) else device
        if as_index:
            if is_device_helper_call(node):
                return node
            if is_current_device_call(node):
                return ctx.device_call(None)  # the current device, on whichever device there is
            return ctx.device_call(node.with_changes(lpar=[], rpar=[]) if getattr(node, "lpar", None) else node)
    raise CannotFix("not a device expression porter can rewrite")


def rename_transform(node: cst.CSTNode, ctx: FileContext, to: str, alone: bool = False) -> cst.CSTNode:
    """Replace a qualified name (the callee stays called with the same arguments)."""
    if isinstance(node, (cst.Name, cst.Attribute)):
        return keep_parens(node, expr(ctx.render(to, **site_values(node))), alone and "\n" not in to)
    raise CannotFix("rename needs a name")


# Expressions whose parentheses are part of what they mean wherever they stand (`f((a, b))`).
_OWN_PARENS = (cst.Tuple, cst.GeneratorExp, cst.NamedExpr, cst.Yield)


def keep_parens(old: cst.BaseExpression, new: cst.BaseExpression, alone: bool = False) -> cst.BaseExpression:
    """The replacement keeps the site's own parentheses, or its template's when the site had none;
    a site standing alone (`if x.is_cuda:`, nodes._stands_alone) does without the template's."""
    if getattr(old, "lpar", None):
        return new.with_changes(lpar=old.lpar, rpar=old.rpar)
    if alone and getattr(new, "lpar", None) and not isinstance(new, _OWN_PARENS):
        return new.with_changes(lpar=[], rpar=[])
    return new


def call_args(node: cst.Call) -> str:
    return ", ".join(code_of(a).rstrip(", ").strip() for a in node.args)


def last_name(node: cst.CSTNode) -> str:
    if isinstance(node, cst.Call):
        node = node.func
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Name):
        return node.value
    return ""


def site_values(node: cst.CSTNode) -> dict[str, str]:
    """The placeholder values one site offers: `{args}`, `{call}`, `{attr}`, `{receiver}`."""
    values = {"attr": last_name(node)}
    if isinstance(node, cst.Call):
        values["args"] = call_args(node)
        values["call"] = code_of(node)
        func = node.func
    else:
        func = node
    if isinstance(func, cst.Attribute):
        values["receiver"] = code_of(func.value)
    return {k: v for k, v in values.items() if v}


def replace_transform(node: cst.CSTNode, ctx: FileContext, to: str, alone: bool = False) -> cst.CSTNode:
    """Replace a whole expression; `{args}` carries a call's arguments over, `{receiver}` its object."""
    if isinstance(node, cst.BaseExpression):
        values = site_values(node)
        if isinstance(node, cst.Call) and node.args and "{receiver}" in to and "{args}" not in to:
            # `optimizer.step(closure)`: a method replacement that would silently lose arguments.
            raise CannotFix("the call has arguments the replacement does not carry over")
        if isinstance(node, cst.Attribute):
            # `x.is_cuda`: the receiver is the attribute's object, not a callee's.
            values["receiver"] = code_of(node.value)
        # a template spanning lines needs its parentheses to hold the lines together
        return keep_parens(node, expr(ctx.render(to, **values)), alone and "\n" not in to)
    raise CannotFix("replace needs an expression")


def device_type_transform(node: cst.CSTNode, ctx: FileContext, to: str) -> cst.CSTNode:
    """`device.type == "cuda"` → `device.type == "neuron"`: every CUDA device string in a comparison
    (and the prefix of `device.startswith("cuda")`)."""
    if isinstance(node, cst.Call) and last_name(node.func) == "startswith" and node.args:
        first = node.args[0]
        ok, index = device_index(first.value) if isinstance(first.value, (cst.SimpleString, cst.FormattedString)) \
            else (False, None)
        if not ok or index is not None or first.keyword is not None:
            raise CannotFix("startswith without a plain CUDA device prefix")
        value = expr(ctx.render(to)).with_changes(lpar=first.value.lpar, rpar=first.value.rpar)
        return node.with_changes(args=[first.with_changes(value=value), *node.args[1:]])
    if not isinstance(node, cst.Comparison):
        raise CannotFix("device-type needs a comparison")
    if len(node.comparisons) == 1 and _string_text(node.comparisons[0].comparator) == "cpu" \
            and isinstance(node.comparisons[0].operator, (cst.Equal, cst.NotEqual)):
        # `x.device.type == "cpu"` before CUDA-only code: the CPU path is also the device's
        target = node.comparisons[0]
        operator = cst.In if isinstance(target.operator, cst.Equal) else cst.NotIn
        names = expr(f'({code_of(target.comparator)}, {ctx.render(to)})')
        return node.with_changes(comparisons=[target.with_changes(
            operator=operator(whitespace_before=target.operator.whitespace_before,
                              whitespace_after=target.operator.whitespace_after), comparator=names)])

    def swap(value: cst.BaseExpression) -> cst.BaseExpression:
        ok, index = device_index(value) if isinstance(value, (cst.SimpleString, cst.FormattedString)) else (False, None)
        if ok and index is None:
            return expr(ctx.render(to)).with_changes(lpar=value.lpar, rpar=value.rpar)
        if ok:
            raise CannotFix("a comparison with an indexed CUDA device")
        return value

    def swap_operand(target: cst.ComparisonTarget) -> cst.BaseExpression:
        value = target.comparator
        if isinstance(target.operator, (cst.In, cst.NotIn)) and isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            # `device_type in ["cuda", "cpu"]`: the allowed names, one of them CUDA's
            elements = [e.with_changes(value=swap(e.value)) for e in value.elements]
            if all(a.value is b.value for a, b in zip(elements, value.elements, strict=True)):
                return value
            return value.with_changes(elements=elements)
        return swap(value)

    left = swap(node.left)
    targets = [c.with_changes(comparator=swap_operand(c)) for c in node.comparisons]
    if left is node.left and all(a.comparator is b.comparator for a, b in zip(targets, node.comparisons, strict=True)):
        raise CannotFix("no CUDA device string in this comparison")
    return node.with_changes(left=left, comparisons=targets)


def tensor_type_dtype(node: cst.CSTNode) -> str:
    name = last_name(node)
    if name not in TENSOR_TYPE_DTYPES:
        raise CannotFix(f"tensor type {name or code_of(node)!r} has no known dtype")
    return TENSOR_TYPE_DTYPES[name]


def statement_transform(line: cst.SimpleStatementLine, ctx: FileContext, to: str) -> cst.FlattenSentinel:
    """Replace a call made for its effect with one or more statements (`to` may hold several lines)."""
    if len(line.body) != 1 or not isinstance(line.body[0], cst.Expr) or not isinstance(line.body[0].value, cst.Call):
        raise CannotFix("statement needs a call on a line of its own")
    call = line.body[0].value
    values = site_values(call)
    if call.args:
        try:
            values["dtype"] = tensor_type_dtype(call.args[0].value)
        except CannotFix:
            if "{dtype}" in to:
                raise
    code = ctx.render(to, **values)
    statements = list(cst.parse_module(code + "\n").body)
    statements[0] = statements[0].with_changes(leading_lines=line.leading_lines)
    last = statements[-1]
    if isinstance(last, cst.SimpleStatementLine):
        statements[-1] = last.with_changes(trailing_whitespace=line.trailing_whitespace)
    return cst.FlattenSentinel(statements)


def remove_statement(line: cst.SimpleStatementLine, only_child: bool) -> cst.CSTNode:
    """Drop a CUDA-only statement (`cudnn.benchmark = True`); a block it leaves empty gets `pass`."""
    if len(line.body) != 1:
        raise CannotFix("remove needs the statement on a line of its own")
    if only_child:
        return line.with_changes(body=[cst.Pass()])
    return removed(line)  # its block hands the lines above it to the next statement (settle_removed)


AUTOCAST_POSITIONS = {
    "cuda.amp": ("enabled", "dtype", "cache_enabled"),
    "autocast": ("device_type", "dtype", "enabled", "cache_enabled"),
}


def autocast_transform(node: cst.CSTNode, ctx: FileContext, set_: dict[str, str]) -> cst.Call:
    """`torch.cuda.amp.autocast(...)` / `torch.autocast("cuda", ...)` → `torch.autocast(<device type>, ...)`.

    The device type comes from the device helper, so the ported code autocasts on whatever device it
    finds; `set` (from the rule's fix) overrides keywords, e.g. `dtype` to bf16 on Neuron.
    """
    if not isinstance(node, cst.Call):
        raise CannotFix("autocast needs a call (a bare `@autocast` decorator is not rewritten)")
    if last_name(node.func) == "partial" and node.args and node.args[0].keyword is None \
            and not node.args[0].star and not device_index(node.args[0].value)[0]:
        # `partial(autocast, "cuda", enabled=False)`: the autocast call it makes later, rewritten,
        # then handed to partial again (`partial(torch.autocast, <device>.type, ...)`).
        made = autocast_transform(cst.Call(func=node.args[0].value, args=node.args[1:]), ctx, set_)
        return node.with_changes(args=[node.args[0].with_changes(value=made.func), *made.args])
    if any(a.star for a in node.args):
        raise CannotFix("autocast with *args/**kwargs")
    positional = [a for a in node.args if a.keyword is None]
    first_is_device = bool(positional) and device_index(positional[0].value)[0]
    names = AUTOCAST_POSITIONS["autocast" if first_is_device else "cuda.amp"]
    if len(positional) > len(names):
        raise CannotFix("autocast with more positional arguments than it takes")
    given: dict[str, str] = {name: code_of(a.value) for name, a in zip(names, positional, strict=False)}
    given.update({a.keyword.value: code_of(a.value) for a in node.args if a.keyword is not None})
    given.pop("device_type", None)
    # The user's dtype stays; without one, CUDA autocast computed in float16, and says so now
    # (turning it into bf16 changes numerics: NRN207's unsafe fix).
    given.setdefault("dtype", ctx.render("{torch}.float16"))
    # CUDA autocast changes nothing for CPU tensors, so on a CPU-only machine the program ran in
    # fp32: the ported autocast is on only where there is an accelerator.
    on_device = ctx.render('{device}.type != "cpu"')
    enabled = given.get("enabled", "True")
    if enabled != "False":
        simple = re.fullmatch(r"[\w.]+", enabled) is not None
        given["enabled"] = on_device if enabled == "True" else (
            f"{enabled} and {on_device}" if simple else f"({enabled}) and {on_device}")
    for name, code in set_.items():
        given[name] = ctx.render(code)
    keywords = "".join(f", {name}={code}" for name, code in given.items())
    return expr(ctx.render("{torch}.autocast({device}.type" + keywords + ")")).with_changes(
        lpar=node.lpar, rpar=node.rpar
    )


def value_transform(node: cst.CSTNode, ctx: FileContext, to: str) -> cst.CSTNode:
    """Replace an argument's value, keeping its keyword."""
    if isinstance(node, cst.Arg):
        return node.with_changes(value=expr(ctx.render(to)))
    if isinstance(node, cst.BaseExpression):
        return expr(ctx.render(to))
    raise CannotFix("value needs an argument")


def guarded_statement(line: cst.SimpleStatementLine, ctx: FileContext, to: str, guard: str) -> cst.If:
    """A statement `torch.cuda.synchronize()` → `if <guard>:` + the device-agnostic call (the call
    alone where it stands under its guard already: `guard` is "")."""
    call = line.body[0].value
    if not isinstance(call, cst.Call):
        raise CannotFix("guarded-call needs a call")
    args = call_args(call)
    new_call = ctx.render(to, **site_values(call))
    if "(" not in to:
        new_call = f"{new_call}({args})"
    if not guard:
        return line.with_changes(body=[line.body[0].with_changes(value=expr(new_call))])
    statement = parse_statement(f"if {ctx.render(guard)}:\n    {new_call}\n")
    inner = statement.body.body[0].with_changes(trailing_whitespace=line.trailing_whitespace)
    return statement.with_changes(leading_lines=line.leading_lines,
                                  body=statement.body.with_changes(body=[inner]))


def guarded_call(node: cst.Call, ctx: FileContext, to: str, guard: str, default: str) -> cst.BaseExpression:
    """`torch.cuda.synchronize()` → `(torch.accelerator.synchronize() if <guard> else <default>)`.

    Device-agnostic runtime calls raise where no accelerator exists; the guard keeps the ported
    program running on a CPU-only machine. Where the call stands under its guard already (`guard` is
    ""), the call alone.
    """
    if not isinstance(node, cst.Call):
        raise CannotFix("guarded-call needs a call")
    args = call_args(node)
    call = ctx.render(to, **site_values(node))
    if "(" not in to:
        call = f"{call}({args})"
    if not guard:
        return expr(call).with_changes(lpar=node.lpar, rpar=node.rpar)
    return expr(f"({call} if {ctx.render(guard)} else {ctx.render(default)})")


def code_name(node: cst.BaseExpression) -> str:
    """The dotted name a Name/Attribute spells (`torch.cuda`), "" for anything else."""
    return get_full_name_for_node(node) or ""
