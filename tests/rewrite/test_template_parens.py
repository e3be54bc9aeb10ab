"""A `replace` or `rename` template written in parentheses (`({receiver}.device.type == "neuron")`, so
it is safe in any context) keeps them only where the site's context needs them: `if x.is_cuda:`
becomes `if x.device.type == "neuron":`, `not x.is_cuda` becomes `not (x.device.type == "neuron")`.
Parentheses the user wrote around the site stay as written."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.rewrite.nodes import _stands_alone
from porter.rewrite.positions import Positions
from porter.rewrite.transforms import FileContext, keep_parens, replace_transform
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex
from porter.source.selection import select_rules

CATALOGUE = load_catalogue()
IS_CUDA = '({receiver}.device.type == "neuron")'


def port(code: str, target: str = "neuron") -> str:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    index = RuleIndex.build(rules)
    result = port_source(code, "snippet.py", index, CATALOGUE, target, False, frozenset())
    assert result.error is None, result.error
    compile(result.ported, "ported.py", "exec")
    again = port_source(result.ported, "snippet.py", index, CATALOGUE, target, False, frozenset())
    assert again.ported == result.ported, "a second port must change nothing"
    return result.ported


def replaced(code: str) -> str:
    """Every `.is_cuda` read of the snippet replaced as the port's `replace` fix does it, whatever
    the lint would say of the site: the mechanism alone, in every context."""
    module = cst.parse_module(code)
    parents = Positions(module).parents

    class Replace(cst.CSTTransformer):
        def leave_Attribute(self, original, updated):
            if original.attr.value != "is_cuda":
                return updated
            return replace_transform(updated, FileContext(), IS_CUDA, _stands_alone(original, parents))

    return module.visit(Replace()).code


# -- through the port -----------------------------------------------------------------------------


def test_a_bare_device_test_loses_the_template_parentheses():
    ported = port("def f(x):\n    if x.is_cuda:\n        x = x.float()\n    return x\n")
    assert '    if x.device.type == "neuron":\n        x = x.float()' in ported


def test_a_negated_device_test_keeps_them():
    ported = port("def f(x):\n    if not x.is_cuda:\n        x = x.float()\n    return x\n")
    assert 'if not (x.device.type == "neuron"):' in ported


def test_an_assigned_device_test_loses_them():
    assert 'y = x.device.type == "neuron"' in port("def f(x):\n    y = x.is_cuda\n    return y\n")


def test_parentheses_the_user_wrote_stay():
    ported = port("def f(x):\n    if (x.is_cuda):\n        x = x.float()\n    y = (x.is_cuda)\n    return x, y\n")
    assert 'if (x.device.type == "neuron"):' in ported and 'y = (x.device.type == "neuron")' in ported


def test_an_operand_of_and_keeps_them():
    ported = port("def f(x, y):\n    if x.is_cuda and y:\n        x = x.float()\n    return x\n")
    assert 'if (x.device.type == "neuron") and y:' in ported


def test_a_call_argument_loses_them_and_an_operand_keeps_them():
    code = ("import torch\n\ndef f(g):\n    a = g(torch.cuda.is_available(), k=torch.cuda.is_available())\n"
            "    b = not torch.cuda.is_available()\n    return a, b\n")
    ported = port(code, "xla")
    assert 'a = g(_porter_device().type == "xla", k=_porter_device().type == "xla")' in ported
    assert 'b = not (_porter_device().type == "xla")' in ported


# -- the mechanism, context by context ------------------------------------------------------------

BARE = [
    ("if x.is_cuda:\n    pass\n", 'if x.device.type == "neuron":\n    pass\n'),
    ("if y:\n    pass\nelif x.is_cuda:\n    pass\n", 'if y:\n    pass\nelif x.device.type == "neuron":\n    pass\n'),
    ("while x.is_cuda:\n    break\n", 'while x.device.type == "neuron":\n    break\n'),
    ('assert x.is_cuda, "msg"\n', 'assert x.device.type == "neuron", "msg"\n'),
    ("y = x.is_cuda\n", 'y = x.device.type == "neuron"\n'),
    ("y: bool = x.is_cuda\n", 'y: bool = x.device.type == "neuron"\n'),
    ("def g():\n    return x.is_cuda\n", 'def g():\n    return x.device.type == "neuron"\n'),
    ("def g():\n    yield x.is_cuda\n", 'def g():\n    yield x.device.type == "neuron"\n'),
    ("f(x.is_cuda, k=x.is_cuda)\n", 'f(x.device.type == "neuron", k=x.device.type == "neuron")\n'),
    ("y = [x.is_cuda], {x.is_cuda}, (x.is_cuda, 1)\n",
     'y = [x.device.type == "neuron"], {x.device.type == "neuron"}, (x.device.type == "neuron", 1)\n'),
    ("y = x.is_cuda, 1\n", 'y = x.device.type == "neuron", 1\n'),
    ("x.is_cuda\n", 'x.device.type == "neuron"\n'),
]

KEPT = [
    "y = not x.is_cuda\n",
    "y = x.is_cuda and z\n",
    "y = z or x.is_cuda\n",
    "y = x.is_cuda == z\n",
    "y = x.is_cuda + 1\n",
    "y = x.is_cuda.real\n",
    "y = d[x.is_cuda]\n",
    "y = lambda: x.is_cuda\n",
    'y = f"{x.is_cuda}"\n',
    "y = 1 if x.is_cuda else 2\n",
    "y = x.is_cuda if z else 2\n",
    "f(*x.is_cuda)\n",
    "y = {'k': x.is_cuda}\n",
    "y = [x.is_cuda for _ in z]\n",
    "y |= x.is_cuda\n",
]


@pytest.mark.parametrize(("code", "expected"), BARE)
def test_a_site_standing_alone_takes_the_template_bare(code, expected):
    assert replaced(code) == expected


@pytest.mark.parametrize("code", KEPT)
def test_a_site_inside_an_expression_keeps_the_template_parentheses(code):
    new = replaced(code)
    assert '(x.device.type == "neuron")' in new and new.count("(") == code.count("(") + 1


def test_the_users_parentheses_are_the_ones_kept():
    assert replaced("if (x.is_cuda):\n    pass\n") == 'if (x.device.type == "neuron"):\n    pass\n'
    assert replaced("y = not (x.is_cuda)\n") == 'y = not (x.device.type == "neuron")\n'
    assert replaced("f((x.is_cuda))\n") == 'f((x.device.type == "neuron"))\n'


def test_a_template_whose_parentheses_make_it_what_it_is_keeps_them():
    # `f((a, b))` passes one tuple; `f(a, b)` would pass two arguments
    site = cst.parse_expression("x.is_cuda")
    assert cst.Module([]).code_for_node(keep_parens(site, cst.parse_expression("(a, b)"), alone=True)) == "(a, b)"
    assert cst.Module([]).code_for_node(keep_parens(site, cst.parse_expression("(a == b)"), alone=True)) == "a == b"


def test_the_bare_template_means_what_the_parenthesised_one_meant():
    # On a CPU tensor both spellings evaluate alike, context by context.
    torch = pytest.importorskip("torch")
    code = ("def g(x, z, d, f):\n    if x.is_cuda:\n        return 'gpu'\n    assert not x.is_cuda\n"
            "    a = x.is_cuda\n    b = [x.is_cuda, not x.is_cuda], f(x.is_cuda, k=x.is_cuda)\n"
            "    c = x.is_cuda == z, x.is_cuda + 1, d[x.is_cuda], 1 if x.is_cuda else 2\n"
            "    return a, b, c\n")
    new = replaced(code)
    assert "if x.device.type" in new and "a = x.device.type" in new
    compiled = {}
    exec(compile(new, "ported.py", "exec"), compiled)
    original = {}
    exec(compile(code, "original.py", "exec"), original)

    def f(*args, **kwargs):
        return args, kwargs

    for x in (torch.arange(3.0), torch.zeros(2, dtype=torch.int64)):
        for z in (True, False):
            assert compiled["g"](x, z, [10, 20], f) == original["g"](x, z, [10, 20], f)
