"""Every API a swap rule (NRN411-414, NRN421) rewrites to must exist in porter.kernels.compat: a swapped
import that fails would turn a working program into a broken one."""

from __future__ import annotations

import importlib

import pytest

from porter.source.catalogue import load_catalogue

pytest.importorskip("torch")

SWAP_RULES = [r for r in load_catalogue() if any(f.transform == "swap-import" for f in r.fixes.values())]
PREFIX = "porter.kernels.compat"


def resolve(dotted: str):
    """Import the longest module prefix of `dotted`, then walk the remaining attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_there_are_swap_rules():
    assert {r.id for r in SWAP_RULES} >= {"NRN411", "NRN412", "NRN413", "NRN414", "NRN421"}


@pytest.mark.parametrize("name", sorted({n for r in SWAP_RULES for n in r.names_exact}))
def test_swap_target_exists(name):
    assert resolve(f"{PREFIX}.{name}") is not None
