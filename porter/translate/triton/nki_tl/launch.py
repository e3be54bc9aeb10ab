"""Running programs: the launch loop over the grid (programs batched on partitions in rows mode), program ids,
index ranges, trace-time control flow (``cond``, ``range``) and the hints that are no-ops here."""

import builtins as _b

import numpy as np

from porter.translate.triton.nki_tl.core import PMAX, Unsupported, _ctx, _is_tile
from porter.translate.triton.nki_tl.memory import _Ptr


def _wrap_args(args):
    out = []
    for a in args:
        if hasattr(a, "ap") and hasattr(a, "shape") and hasattr(a, "dtype"):
            out.append(_Ptr(a, 0))
        else:
            out.append(a)
    return out


WIDE_LANES = 4096  # lanes per partition above which a program's block is split over several partitions


def split_factor(blocks):
    """Partitions per program for the largest block: 1 up to WIDE_LANES lanes, then doubling (at most 64)."""
    k = 1
    biggest = _b.max([int(b) for b in blocks if isinstance(b, (int, np.integer))] or [1])
    while biggest // k > WIDE_LANES and k < 64 and biggest % (2 * k) == 0:
        k *= 2
    return k


def launch(program, mode, grid, args, blocks=()):
    """Run ``program`` for every program id of ``grid`` (a tuple of up to 3 ints).

    ``blocks``: the block sizes the program uses (its ``tl.arange`` extents); in rows mode a block longer than
    WIDE_LANES is split over several partitions per program, so SBUF holds any block length.
    """
    grid = tuple(int(g) for g in grid) + (1,) * (3 - len(tuple(grid)))
    args = _wrap_args(args)
    _ctx.mode = mode
    _ctx.grid = grid
    k = split_factor(blocks) if mode == "rows" else 1
    for p2 in _b.range(grid[2]):
        for p1 in _b.range(grid[1]):
            if mode == "rows":
                for g0 in _b.range(0, grid[0], PMAX // k):
                    n = _b.min(PMAX // k, grid[0] - g0)
                    _ctx.pid = (np.arange(g0, g0 + n, dtype=np.int64).reshape(n, 1), p1, p2)
                    _ctx.P = n
                    _ctx.k = k
                    _ctx.active = None
                    _ctx.when = _ctx.retired = None
                    _ctx.consts = {}
                    program(*args)
            else:
                for p0 in _b.range(grid[0]):
                    _ctx.pid = (p0, p1, p2)
                    _ctx.P = 1
                    _ctx.k = 1
                    _ctx.active = None
                    _ctx.when = _ctx.retired = None
                    program(*args)


def program_id(axis=0):
    return _ctx.pid[int(axis)]


def num_programs(axis=0):
    return _ctx.grid[int(axis)]


def _pick(args, elementwise, builtin):
    """``builtin(*args)``, or ``elementwise`` folded over them when one is a per-program (NumPy) value."""
    if any(isinstance(a, np.ndarray) for a in args):
        out = args[0]
        for a in args[1:]:
            out = elementwise(out, a)
        return out
    return builtin(*args)


def pymin(*args):
    """Python's ``min`` in a kernel: element-wise for per-program (NumPy) values."""
    return _pick(args, np.minimum, _b.min)


def pymax(*args):
    """Python's ``max`` in a kernel: element-wise for per-program (NumPy) values."""
    return _pick(args, np.maximum, _b.max)


def cdiv(a, b):
    return (a + b - 1) // b


def next_power_of_2(n):
    return 1 << _b.max(0, int(n) - 1).bit_length()


def arange(start, end):
    r = np.arange(int(start), int(end), dtype=np.int64)
    return r.reshape(1, -1) if _ctx.mode == "rows" else r


def cond(x):
    """Truth of an ``if`` / ``while`` test: a trace-time value, the same for every program of the group."""
    if _is_tile(x):
        raise Unsupported("a branch on a value loaded from memory (data-dependent control flow)")
    if isinstance(x, np.ndarray):
        v = x if _ctx.active is None else x[np.broadcast_to(_ctx.active, x.shape)]
        if v.size and v.all():
            return True
        if not v.any():
            return False
        raise Unsupported("a branch whose outcome differs between programs batched on partitions")
    return bool(x)


def range(start, stop=None, step=1, **_):  # noqa: A001 - stands for tl.range / range in kernels
    """``range`` / ``tl.range`` / ``tl.static_range``; bounds that differ per program deactivate finished ones."""
    if stop is None:
        start, stop = 0, start
    if not any(isinstance(v, np.ndarray) for v in (start, stop, step)):
        yield from _b.range(int(start), int(stop), int(step))
        return
    if isinstance(step, np.ndarray):
        step = int(np.unique(step)[0]) if np.unique(step).size == 1 else None
        if step is None:
            raise Unsupported("a loop whose step differs between programs")
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    trips = np.maximum(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    outer = _ctx.active
    k = 0
    while k < int(trips.max(initial=0)):
        value = start + k * step
        live = np.broadcast_to(k < trips, (_ctx.P, 1)).copy()
        _ctx.active = live if outer is None else (outer & live)
        yield value
        k += 1
    _ctx.active = outer


static_range = range


def multiple_of(x, _):
    return x


def max_contiguous(x, _):
    return x


def max_constancy(x, _):
    return x


def assume(*_):
    return None


def static_assert(c, msg=""):
    assert c, msg


def device_assert(*_, **__):
    return None


def debug_barrier():
    return None


def static_print(*_, **__):
    return None


def device_print(*_, **__):
    return None
