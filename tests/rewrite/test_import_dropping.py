"""The imports a port left unused are dropped (porter.rewrite.imports): with the definitions that
hold no import left unwalked, the result must be the full walk's."""

from __future__ import annotations

import ast

import libcst as cst

from porter.rewrite.imports import _definitions_holding_imports, _Dropper, _unused, drop_unused_imports

ORIGINAL = '''import os
from torch.cuda.amp import GradScaler, autocast


class Trainer:
    from torch.cuda.amp import autocast as ac

    def step(self, x):
        with autocast():
            return x

    def helper(self):
        def inner():
            import json
            return json.dumps(GradScaler)
        return inner

    def plain(self):
        return ac


def setup():
    global os
    import os
    return os.getcwd()


def other():
    return 1
'''

# What a port made of it: `autocast`, `GradScaler` and the nested `json` no longer read (their imports unused now).
PORTED = ORIGINAL.replace("with autocast():", "with open('f'):").replace("return json.dumps(GradScaler)", "return 1")


def test_the_definitions_holding_an_import():
    holding = _definitions_holding_imports(ast.parse(ORIGINAL))
    assert holding == {("Trainer#0",), ("Trainer#0", "helper#0"), ("Trainer#0", "helper#0", "inner#0"), ("setup#0",)}


def test_dropping_with_the_unwalked_definitions_is_the_full_walk():
    after = ast.parse(PORTED)
    dropped = _unused(lambda: ast.parse(ORIGINAL), after)
    assert {b.key for b in dropped} == {"autocast", "GradScaler", "json"}
    module = cst.parse_module(PORTED)
    full = module.visit(_Dropper(dropped)).code
    assert module.visit(_Dropper(dropped, _definitions_holding_imports(after))).code == full
    assert drop_unused_imports(module, ORIGINAL)[1] == full
    assert "GradScaler" not in full and "import json" not in full
    assert "from torch.cuda.amp import autocast as ac" in full and "import os" in full
