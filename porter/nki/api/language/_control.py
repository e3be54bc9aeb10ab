"""Loops, SPMD ids, debugging helpers."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from porter.nki import context, version
from porter.nki.errors import BLOCK_DIM_GUIDE, NkiValidationError
from porter.nki.scalar import NkiScalar, is_device_value
from porter.nki.tensor import NkiTensor, _scalar_value


def _range(start: Any, stop: Any = None, step: Any = 1) -> range:
    start = int(_scalar_value(start))
    if stop is None:
        return range(start)
    return range(start, int(_scalar_value(stop)), int(_scalar_value(step)))


def _static(name: str, start: Any, stop: Any, step: Any) -> range:
    # Deprecated aliases of range() since 0.7 (kernels are Python now); 0.6 took them silently.
    if version.at_least("0.7"):
        version.deprecated(f"nl.{name}", "0.7", "use Python range() (it behaves the same)", stacklevel=4)
    for bound in (start, stop, step):
        if is_device_value(bound):
            raise NkiValidationError(
                f"nl.{name}: bounds must be known at specialization time; for a device value use nl.fori_loop"
            )
    return _range(start, stop, step)


def affine_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    """Deprecated alias of range(): iterations run in order, fully unrolled."""
    return _static("affine_range", start, stop, step)


def sequential_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    """Deprecated alias of range()."""
    return _static("sequential_range", start, stop, step)


def static_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    """Deprecated alias of range()."""
    return _static("static_range", start, stop, step)


def dynamic_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    """NKI 0.6: runtime-bound loop (deprecated); removed in 0.7 in favour of nl.fori_loop."""
    if version.at_least("0.7"):
        raise version.removed("nl.dynamic_range", "0.7", "nl.fori_loop(lower, upper, body_fun)")
    version.deprecated("nl.dynamic_range", "0.6", "use nl.fori_loop(lower, upper, body_fun)")
    return _range(start, stop, step)


_INT32 = (-(2**31), 2**31 - 1)


def _loop_bound(name: str, value: Any) -> int:
    if isinstance(value, NkiScalar):
        if value.dtype != "int32":
            raise NkiValidationError(
                f"nl.fori_loop: {name} must be 32-bit; an {value.dtype} NkiScalar cannot bound a loop "
                "(the trip-count comparison has no 64-bit form)"
            )
        return value._nki_scalar_value()
    if is_device_value(value):
        return int(_scalar_value(value))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise NkiValidationError(
            f"nl.fori_loop: {name} must be an int, NkiScalar or VirtualRegister, got {type(value).__name__}"
        )
    if not _INT32[0] <= int(value) <= _INT32[1]:
        raise NkiValidationError(f"nl.fori_loop: {name}={int(value)} does not fit in 32 bits")
    return int(value)


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any], Any], step: Any = 1, **options: Any) -> None:
    """Compiled loop: body_fun(i) for i in range(lower, upper, step); i is a device value.

    NKI 0.6 passes a VirtualRegister; 0.7+ an int32 NkiScalar, or a VirtualRegister when a bound is
    one. `unroll=True` (0.7+) unrolls at compile time, so the bounds must be Python ints.
    """
    unknown = set(options) - {"unroll"}
    if unknown:
        raise NkiValidationError(f"nl.fori_loop: unexpected keyword argument(s) {', '.join(sorted(unknown))}")
    unroll = options.get("unroll", False)
    if "unroll" in options:
        version.require("nl.fori_loop(unroll=...)", "0.7")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step <= 0:
        raise NkiValidationError(f"nl.fori_loop: step must be a compile-time positive integer, got {step!r}")
    if unroll and (is_device_value(lower) or is_device_value(upper)):
        raise NkiValidationError("nl.fori_loop(unroll=True): the bounds must be known at compile time")
    lo, hi = _loop_bound("lower", lower), _loop_bound("upper", upper)
    from porter.nki.api.isa.enums import VirtualRegister

    registers = not version.at_least("0.7") or any(isinstance(b, VirtualRegister) for b in (lower, upper))
    for i in range(lo, hi, int(step)):
        # A fresh value each iteration: writing to it inside the body has no effect on the loop.
        body_fun(VirtualRegister(i) if registers else NkiScalar(i, "int32"))


def _condition(api: str, value: Any) -> int:
    if isinstance(value, NkiScalar):
        if value.dtype != "int32":
            raise NkiValidationError(f"{api}: the condition must be a 32-bit NkiScalar, got {value.dtype}")
        return value._condition_value()
    return int(_scalar_value(value))


def while_loop(init: Any, body_fun: Callable[..., Any]) -> None:
    """Compiled while loop: run body_fun while the condition register is non-zero.

    NKI 0.7+: body_fun(r) receives the current condition and returns the next one. NKI 0.6 also
    took a body without arguments that updates the register it was given (or returns a new one).
    """
    takes_arg = _positional_params(body_fun) >= 1
    if version.at_least("0.7") and not takes_arg:
        raise NkiValidationError("nl.while_loop: body_fun must take the current condition (r) and return the next one")
    cond = init
    while _condition("nl.while_loop", cond):
        res = body_fun(cond) if takes_arg else body_fun()
        if res is None:
            if version.at_least("0.7"):
                raise NkiValidationError("nl.while_loop: body_fun must return the next condition register")
            continue
        cond = res


def if_else(cond: Any, then_fn: Callable[[], Any], else_fn: Callable[[], Any] | None = None) -> None:
    """NKI 0.8 compiled conditional: then_fn() when cond is non-zero, else else_fn() (if given).

    A Python bool/int is decided at compile time; a 32-bit NkiScalar (or a comparison of scalars)
    at run time. Only the selected callback runs; callbacks take no arguments and return nothing.
    """
    version.require("nl.if_else", "0.8")
    from porter.nki.api.isa.enums import VirtualRegister

    if isinstance(cond, VirtualRegister):
        raise NkiValidationError(
            "nl.if_else: the condition must be a Python bool/int or a 32-bit NkiScalar "
            "(load it with nisa.scalar_load), not a VirtualRegister"
        )
    if isinstance(cond, NkiTensor) or not (isinstance(cond, (bool, int, np.integer, NkiScalar))):
        raise NkiValidationError(
            f"nl.if_else: the condition must be a Python bool/int or a 32-bit NkiScalar, got {type(cond).__name__}"
        )
    chosen = then_fn if _condition("nl.if_else", cond) else else_fn
    if chosen is None:
        return
    if chosen(*()) is not None:
        raise NkiValidationError("nl.if_else: the branch callbacks must not return a value")


def _positional_params(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in params)


def ds(start: Any, size: Any) -> slice:
    start = int(_scalar_value(start))
    return slice(start, start + int(_scalar_value(size)))


def program_id(axis: int = 0) -> int:
    inst = context.current()
    grid = inst.launch.grid
    axis = int(axis)
    if not grid:
        if axis != 0:
            raise NkiValidationError(f"nl.program_id: axis {axis} out of range for a kernel launched without a grid")
        return 0
    if not 0 <= axis < len(grid):
        raise NkiValidationError(f"nl.program_id: axis {axis} out of range for SPMD grid {grid}")
    return inst.pid[axis]


def num_programs(axes: Any = 0) -> Any:
    grid = context.current().launch.grid or (1,)
    if axes is None:
        return int(np.prod(grid))
    if isinstance(axes, (tuple, list)):
        return tuple(grid[int(a)] for a in axes)
    axes = int(axes)
    if not 0 <= axes < len(grid):
        raise NkiValidationError(f"nl.num_programs: axis {axes} out of range for SPMD grid {grid}")
    return grid[axes]


def program_ndim() -> int:
    return len(context.current().launch.grid)


def device_print(print_prefix: str, tensor: Any) -> None:
    if isinstance(tensor, NkiTensor):
        print(print_prefix, tensor._read_raw())
    else:
        print(print_prefix, tensor)


@contextlib.contextmanager
def no_reorder() -> Iterator[None]:
    yield


def par_dim(n: int) -> int:
    """Legacy neuronxcc.nki marker of the partition dim; NKI >= 0.2 has no block dims and no par_dim."""
    raise NkiValidationError(
        f"nl.par_dim({n}) is legacy neuronxcc.nki API: block dimensions (dims in front of the partition dim) "
        "were removed and the partition dim is always dim 0. Drop par_dim, and turn block dims into a "
        f"Python list of tiles or fold them into the free dims: {BLOCK_DIM_GUIDE} "
        "(`porter nki upgrade` does this for you)"
    )


__all__ = [
    _n
    for _n, _v in list(globals().items())
    if not _n.startswith("_")
    and not isinstance(_v, type(np))
    and (isinstance(_v, str) or getattr(_v, "__module__", None) == __name__)
]
