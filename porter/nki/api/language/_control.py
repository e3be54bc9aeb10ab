"""Loops, SPMD ids, debugging helpers."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from porter.nki import context
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor, _scalar_value


def _range(start: Any, stop: Any = None, step: Any = 1) -> range:
    start = int(_scalar_value(start))
    if stop is None:
        return range(start)
    return range(start, int(_scalar_value(stop)), int(_scalar_value(step)))


def affine_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    """Deprecated alias of range() in NKI >= 0.2: iterations run in order, fully unrolled."""
    return _range(start, stop, step)


def sequential_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    return _range(start, stop, step)


def static_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    return _range(start, stop, step)


def dynamic_range(start: Any, stop: Any = None, step: Any = 1) -> range:
    """Runtime-bound loop; bounds may be VirtualRegisters (read at loop entry)."""
    return _range(start, stop, step)


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[int], Any], step: Any = 1) -> None:
    for i in _range(lower, upper, step):
        body_fun(i)


def while_loop(init: Any, body_fun: Callable[[], Any]) -> None:
    """Run body_fun while the register/tensor `init` is non-zero; body_fun may return the new condition."""
    cond = init
    while int(_scalar_value(cond)):
        res = body_fun()
        if res is not None:
            cond = res


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
    warnings.warn(
        "nl.par_dim is a legacy (neuronxcc.nki) API; block dims were removed", DeprecationWarning, stacklevel=2
    )
    return n


__all__ = [
    _n
    for _n, _v in list(globals().items())
    if not _n.startswith("_")
    and not isinstance(_v, type(np))
    and (isinstance(_v, str) or getattr(_v, "__module__", None) == __name__)
]
