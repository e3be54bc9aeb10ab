"""nki.jit / nki.simulate / SPMD launch: run a kernel function as plain Python on the simulator."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from porter.nki import context, convert
from porter.nki.errors import NkiValidationError
from porter.nki.stats import RunStats
from porter.nki.tensor import NkiTensor

_last_stats: RunStats | None = None


def last_run_stats() -> RunStats | None:
    """Statistics of the most recent simulated kernel launch in this process."""
    return _last_stats


def _grid(key: Any) -> tuple[int, ...]:
    dims = key if isinstance(key, tuple) else (key,)
    try:
        out = tuple(int(d) for d in dims)
    except TypeError as exc:
        raise NkiValidationError(f"SPMD grid must be ints, got {key!r}") from exc
    if not out or any(d < 1 for d in out):
        raise NkiValidationError(f"SPMD grid dims must be >= 1, got {out}")
    return out


class GridKernel:
    """`kernel[g0, g1, ...]`: the SPMD instances run one after the other, each with its program ids."""

    def __init__(self, fn: Callable, grid: tuple[int, ...]) -> None:
        self.fn = fn
        self.grid = grid
        self.last_stats: RunStats | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result, stats = run(self.fn, self.grid, args, kwargs)
        self.last_stats = stats
        return result


class JitKernel:
    """What `@nki.jit` returns: callable directly (simulated) or with an SPMD grid."""

    def __init__(self, fn: Callable, options: dict[str, Any]) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.options = options
        self.last_stats: RunStats | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result, stats = run(self.fn, (), args, kwargs)
        self.last_stats = stats
        return result

    def __getitem__(self, grid: Any) -> GridKernel:
        return GridKernel(self.fn, _grid(grid))


def jit(fn: Callable | None = None, **kwargs: Any) -> Any:
    """`@nki.jit` or `@nki.jit(...)`.  `platform_target=` is an error in NKI >= 0.3; `mode=` is ignored."""
    if "platform_target" in kwargs:
        value = kwargs["platform_target"]
        raise NkiValidationError(
            f"nki.jit(platform_target={value!r}): the platform_target argument was removed in NKI 0.3; "
            f"drop it and set the environment variable NEURON_PLATFORM_TARGET_OVERRIDE={value} instead "
            "(trn1|inf2|gen2, trn2|gen3, trn3|gen4)"
        )
    if fn is None:
        return lambda f: JitKernel(f, kwargs)
    if isinstance(fn, JitKernel):
        return fn
    return JitKernel(fn, kwargs)


def simulate(kernel: Any) -> Callable[..., Any]:
    """`nki.simulate(kernel)(*args)`: run on the CPU simulator, NumPy/torch in, same kind out."""
    if isinstance(kernel, GridKernel):
        return kernel
    if isinstance(kernel, JitKernel):
        return JitKernel(kernel.fn, kernel.options)
    if callable(kernel):
        return JitKernel(kernel, {})
    raise NkiValidationError(f"nki.simulate: expected a kernel function, got {type(kernel).__name__}")


def _wrap(value: Any, what: str, hooks: list) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray) or convert.is_torch_tensor(value):
        tensor, hook = convert.to_hbm(value, what)
        if hook:
            hooks.append(hook)
        return tensor
    return value


def _unwrap(value: Any, as_torch: bool, multi: bool) -> Any:
    if isinstance(value, NkiTensor):
        if value.kind != "hbm":
            raise NkiValidationError(
                f"kernel returned a {value.kind.upper()} tensor; outputs must be HBM tensors "
                "(nl.ndarray(..., buffer=nl.shared_hbm) filled with nl.store / nisa.dma_copy)"
            )
        if multi and value.buffer.name in ("private_hbm", "hbm") and value._alloc.name != "__input__":
            raise NkiValidationError(
                "an SPMD kernel returned a private HBM tensor; allocate outputs with buffer=nl.shared_hbm"
            )
        return convert.from_hbm(value, as_torch)
    if isinstance(value, tuple):
        return tuple(_unwrap(v, as_torch, multi) for v in value)
    if isinstance(value, list):
        return [_unwrap(v, as_torch, multi) for v in value]
    if isinstance(value, dict):
        return {k: _unwrap(v, as_torch, multi) for k, v in value.items()}
    return value


def run(fn: Callable, grid: tuple[int, ...], args: tuple, kwargs: dict) -> tuple[Any, RunStats]:
    global _last_stats
    launch = context.Launch(grid)
    hooks: list[Callable[[], None]] = []
    as_torch = any(convert.is_torch_tensor(a) for a in itertools.chain(args, kwargs.values()))
    device = convert.device_tensor(itertools.chain(args, kwargs.values()))
    wargs = [_wrap(a, f"argument {i}", hooks) for i, a in enumerate(args)]
    wkwargs = {k: _wrap(v, f"argument {k!r}", hooks) for k, v in kwargs.items()}
    for t in itertools.chain(wargs, wkwargs.values()):
        if isinstance(t, NkiTensor):
            t._alloc.name = "__input__"
    result: Any = None
    pids = list(itertools.product(*(range(g) for g in grid))) if grid else [()]
    _last_stats = launch.stats
    for pid in pids:
        inst = context.Instance(launch, pid)
        prev = context.enter(inst)
        try:
            result = fn(*wargs, **wkwargs)
        finally:
            inst.memory.close()
            context.enter(prev)
        launch.stats.instances += 1
    for hook in hooks:
        hook()
    out = _unwrap(result, as_torch, len(pids) > 1)
    if device is not None:  # called with an emulated device's tensors: its outputs live there too
        out = convert.on_device(out, device, getattr(fn, "__name__", "kernel"), launch.stats)
    return out, launch.stats
