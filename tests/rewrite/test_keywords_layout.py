"""keywords fixes keep a call's layout: comments, trailing commas, one argument per line."""

from __future__ import annotations

import libcst as cst
import pytest

from porter.rewrite.keyword_edits import keywords_transform
from porter.rewrite.transforms import FileContext


def rewrite(source: str, set_: dict | None = None, drop: tuple = ()) -> str:
    module = cst.parse_module(source)
    call = module.body[0].body[0].value
    new = keywords_transform(call, FileContext(), set_ or {}, list(drop))
    return module.code_for_node(new)


ADAMW = """opt = torch.optim.AdamW(
    model.parameters(),
    lr=1e-3,  # learning rate
    fused=True,  # go fast
    weight_decay=0.1,  # decay
)
"""


@pytest.mark.parametrize(("source", "set_", "drop", "expected"), [
    # dropping an inner keyword: the others keep their comments, the trailing comma and the `)` line
    (ADAMW, {}, ("fused",),
     "torch.optim.AdamW(\n    model.parameters(),\n    lr=1e-3,  # learning rate\n    weight_decay=0.1,  # decay\n)"),
    # dropping the last keyword: the new last argument keeps its comment and the call's ending
    (ADAMW, {}, ("weight_decay",),
     "torch.optim.AdamW(\n    model.parameters(),\n    lr=1e-3,  # learning rate\n    fused=True,  # go fast\n)"),
    ("m = f(\n    a,  # a\n    b=1)\n", {}, ("b",), "f(\n    a,  # a\n)"),
    ("m = f(\n    a,\n    b=1)\n", {}, ("b",), "f(\n    a)"),
    # adding a keyword in a multi-line call: its own line, the siblings' indentation, the trailing comma
    ('m = torch.compile(\n    model,\n    mode="max-autotune",  # autotune\n    fullgraph=True,\n)\n',
     {"backend": '"neuron"'}, ("mode",),
     'torch.compile(\n    model,\n    fullgraph=True,\n    backend="neuron",\n)'),
    ('m = torch.compile(\n    model,\n    fullgraph=True  # fg\n)\n', {"backend": '"neuron"'}, (),
     'torch.compile(\n    model,\n    fullgraph=True,  # fg\n    backend="neuron"\n)'),
    ("m = f(a,\n      b=1)\n", {"c": "3"}, (), "f(a,\n      b=1,\n      c=3)"),
    # one-line calls stay on one line
    ("m = torch.compile(model, mode='x')\n", {"backend": '"neuron"'}, ("mode",),
     'torch.compile(model, backend="neuron")'),
    ("m = f(a, b=1, c=2)\n", {}, ("b",), "f(a, c=2)"),
    ("m = f(a, c=2, b=1)\n", {}, ("b",), "f(a, c=2)"),
    ("m = f()\n", {"c": "3"}, (), "f(c=3)"),
    ("m = f(b=1)\n", {}, ("b",), "f()"),
    # an existing keyword's value is replaced in place, comment kept
    ("m = f(\n    a,\n    b=1,  # b\n)\n", {"b": "2"}, (), "f(\n    a,\n    b=2,  # b\n)"),
])
def test_keywords_keep_the_layout(source, set_, drop, expected):
    assert rewrite(source, set_, drop) == expected


def test_dropping_after_an_earlier_rewrite_that_left_default_commas():
    module = cst.parse_module("m = x.to(d, non_blocking=True)\n")
    call = module.body[0].body[0].value
    call = call.with_changes(args=[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in call.args])
    new = keywords_transform(call, FileContext(), {}, ["non_blocking"])
    assert module.code_for_node(new) == "x.to(d)"


def test_template_args_placeholder_with_no_arguments_leaves_no_stray_comma():
    ctx = FileContext()
    assert ctx.render("{torch}.amp.GradScaler({device}.type, {args})", args="") == \
        "torch.amp.GradScaler(_porter_device().type)"
    assert ctx.render("{torch}.amp.GradScaler({device}.type, {args})", args="enabled=False") == \
        "torch.amp.GradScaler(_porter_device().type, enabled=False)"
    assert ctx.render("g({args}, x)", args="") == "g(x)" and ctx.render("g({args})", args="") == "g()"
