"""Branches on loaded data: `if label == ignore_index: <stores>; return` in a kernel.

The translation writes each `if` as `for taken in _tl.branches(test): if taken: ... else: ...` and each bare
`return` as `if _tl.retire(): return`. A test known while tracing yields its truth once and `retire()` is
True: Python's own control flow, as before. A test on loaded data (one value per program) yields True, then
False: both sides are traced, each under a per-program predicate (the test, then its negation) that `store`
honours by writing only the predicated programs' lanes (it reads the destination and writes it back blended);
`retire()` under such a predicate takes those programs out of every later store, which is what `return` does
for them, and lets the trace go on for the others.
"""

import nki.isa as nisa
import nki.language as nl

from porter.translate.triton.nki_tl.core import Unsupported, _ctx, _is_tile, _new, _tile_shape
from porter.translate.triton.nki_tl.creation import _materialize


def _predicate(test):
    """A (programs, 1) float32 tile of 0/1 from a per-program test."""
    if test.shape not in ((), (1,)):
        raise Unsupported("a branch on a block of loaded values (not one value per program)")
    tile = _materialize(test, (), nl.float32)
    if str(tile.dtype) != "float32":
        as_float = _new(tile.shape, nl.float32)
        nisa.tensor_copy(dst=as_float, src=tile)
        tile = as_float
    return tile


def _and(a, b):
    if a is None or b is None:
        return b if a is None else a
    out = _new(a.shape, nl.float32)
    nisa.tensor_tensor(dst=out, data1=a, data2=b, op=nl.multiply)
    return out


def _not(a):
    out = _new(a.shape, nl.float32)
    nisa.tensor_scalar(dst=out, data=a, op0=nl.multiply, operand0=-1.0)
    nisa.tensor_scalar(dst=out, data=out, op0=nl.add, operand0=1.0)
    return out


def _or(a, b):
    if a is None:
        return b
    out = _new(a.shape, nl.float32)
    nisa.tensor_tensor(dst=out, data1=a, data2=b, op=nl.maximum)
    return out


def branches(test):
    """The sides of `if test:` to trace: `cond(test)` once for a test known while tracing; True then False,
    each under its per-program predicate, for a test on loaded data."""
    if not _is_tile(test):
        from porter.translate.triton.nki_tl.launch import cond  # (launch imports the stores, which import this)

        yield cond(test)
        return
    taken = _predicate(test)
    outer = _ctx.when
    _ctx.when = _and(outer, taken)
    try:
        yield True
        _ctx.when = _and(outer, _not(taken))
        yield False
    finally:
        _ctx.when = outer


def retire():
    """A bare `return`: True (return now) outside any branch on loaded data; under one, the predicated
    programs stop writing for the rest of the kernel and the trace goes on for the others (False)."""
    if _ctx.when is None:
        return True
    _ctx.retired = _or(_ctx.retired, _ctx.when)
    return False


def store_predicate(shape):
    """The per-program predicate stores are under (a (programs, 1) float32 tile), or None when every active
    program writes. `shape`: the store's block shape (its grid must hold one row per program)."""
    when, retired = _ctx.when, _ctx.retired
    if when is None and retired is None:
        return None
    pred = _and(when, _not(retired) if retired is not None else None)
    if pred.shape[0] not in (1, _tile_shape(shape)[0]):
        raise Unsupported("a store under a branch on loaded data whose block does not have one row per program")
    return pred
