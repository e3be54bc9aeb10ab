"""Dispatch between the NKI kernels, porter's NKI simulator and the PyTorch references.

Nothing here imports NKI at module import time: torch-only users never need it. The NKI kernel sources live in
``porter.kernels.device`` and are imported only when a kernel is about to run on a NeuronCore or in the simulator.

Dispatch rule for every torch-facing function in this package:

* a tensor on a Neuron device (``tensor.device.type`` in ``("neuron", "xla")``) runs the ``@nki.jit`` kernel;
* a CPU tensor runs the simulated kernel when simulation is requested (``with porter.kernels.simulate():`` or
  ``PORTER_KERNELS_SIMULATE=1``);
* anything else (CPU, CUDA, MPS, ...) runs the PyTorch reference.

Gradients: the kernels are forward-only. When an input requires grad, the kernel runs inside a
``torch.autograd.Function`` whose backward recomputes the reference under ``enable_grad`` and differentiates it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

NEURON_DEVICE_TYPES = ("neuron", "xla")
SIMULATE_ENV = "PORTER_KERNELS_SIMULATE"

PATH_NKI = "nki"
PATH_SIMULATE = "simulate"
PATH_REFERENCE = "reference"

_simulate_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar("porter_kernels_simulate",
                                                                                   default=None)
_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()
_last_run_stats: dict[str, Any] = {}
# Set by porter's emulated neuron device (porter.emulate): runs a kernel called with emulated `neuron`
# tensors in the simulator, since there is no NeuronCore behind them.
_emulated_device_call: Callable[..., Any] | None = None


def set_emulated_device_call(call: Callable[..., Any] | None) -> None:
    global _emulated_device_call
    _emulated_device_call = call


# --------------------------------------------------------------------------------------------- simulation switch

@contextlib.contextmanager
def simulate(enabled: bool = True) -> Iterator[None]:
    """Run the NKI kernels in porter's CPU simulator for CPU tensors inside this block (``enabled=False`` forces
    the PyTorch references even when ``PORTER_KERNELS_SIMULATE=1``)."""
    token = _simulate_override.set(bool(enabled))
    try:
        yield
    finally:
        _simulate_override.reset(token)


def simulation_enabled() -> bool:
    override = _simulate_override.get()
    if override is not None:
        return override
    return os.environ.get(SIMULATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def is_neuron_tensor(tensor: Any) -> bool:
    device = getattr(tensor, "device", None)
    return getattr(device, "type", None) in NEURON_DEVICE_TYPES


def choose_path(tensors: tuple[Any, ...]) -> str:
    """Which implementation a call with these tensor arguments runs."""
    present = [t for t in tensors if t is not None]
    if any(is_neuron_tensor(t) for t in present):
        return PATH_NKI
    if simulation_enabled() and all(getattr(getattr(t, "device", None), "type", "cpu") == "cpu" for t in present):
        return PATH_SIMULATE
    return PATH_REFERENCE


# ----------------------------------------------------------------------------------------------- dispatch counters

def record(name: str, path: str) -> None:
    with _lock:
        _counts[(name, path)] += 1


def dispatch_counts(name: str | None = None) -> dict[tuple[str, str], int] | dict[str, int]:
    """How often each kernel ran on each path: ``{(name, path): n}``, or ``{path: n}`` for one kernel."""
    with _lock:
        if name is None:
            return dict(_counts)
        return {path: n for (kernel, path), n in _counts.items() if kernel == name}


def reset_dispatch_counts() -> None:
    with _lock:
        _counts.clear()


def last_run_stats(name: str | None = None) -> Any:
    """The simulator's statistics object from the most recent simulated run (of kernel ``name``), if it has one."""
    with _lock:
        if name is None:
            return _last_run_stats.get("__last__")
        return _last_run_stats.get(name)


# --------------------------------------------------------------------------------------------------- NKI loading

class NkiUnavailableError(RuntimeError):
    pass


def ensure_nki(simulated: bool) -> Any:
    """Import ``nki``. For simulation without the Neuron SDK, install porter's simulator under that name first."""
    try:
        import nki  # noqa: F401  (the real Neuron SDK, or a simulator already installed)

        return nki
    except ImportError:
        if not simulated:
            raise NkiUnavailableError(
                "the NKI package is not importable: install the Neuron SDK (neuronx-cc / nki) to run kernels on a "
                "NeuronCore") from None
    try:
        from porter.nki import install_simulator
    except ImportError as exc:
        raise NkiUnavailableError(f"porter's NKI simulator (porter.nki) is not available: {exc}") from exc
    install_simulator()
    import nki

    return nki


def simulated_call(kernel: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str = "") -> Any:
    """Run ``kernel`` in the simulator and remember the simulator's per-run statistics object (if any)."""
    nki = ensure_nki(simulated=True)
    runner = nki.simulate(kernel)
    result = runner(*args, **kwargs)
    stats = _find_stats(nki, runner)
    if stats is not None:
        with _lock:
            _last_run_stats["__last__"] = stats
            if name:
                _last_run_stats[name] = stats
    return to_torch(result)


def _find_stats(nki: Any, runner: Any) -> Any:
    """The statistics of the run that just finished: the simulated kernel's ``last_stats``, else porter's
    simulator's ``last_run_stats()``; None with a simulator that keeps none (the Neuron SDK's)."""
    stats = getattr(runner, "last_stats", None)
    if stats is not None:
        return stats
    if getattr(nki, "IS_PORTER_SIMULATOR", False):
        try:
            from porter.nki import last_run_stats as porter_last_run_stats
        except ImportError:
            return None
        return porter_last_run_stats()
    return None


def to_torch(value: Any) -> Any:
    """The simulator returns torch tensors for torch inputs; accept NumPy (incl. ml_dtypes bfloat16) too."""
    import torch

    if isinstance(value, torch.Tensor) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(to_torch(v) for v in value)
    import numpy as np

    array = np.asarray(value)
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(array).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))


def device_call(kernel: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str = "") -> Any:
    """Run ``kernel`` on the Neuron device the tensors live on (``@nki.jit`` picks the PyTorch framework)."""
    return kernel(*args, **kwargs)


# ------------------------------------------------------------------------------------------------------ autograd

def _recompute_function():
    import torch

    class RecomputeWithReference(torch.autograd.Function):
        """Forward: the kernel. Backward: differentiate the PyTorch reference, recomputed under enable_grad."""

        @staticmethod
        def forward(ctx, forward_fn, reference_fn, params, *tensors):
            ctx.reference_fn = reference_fn
            ctx.params = params
            ctx.present = tuple(t is not None for t in tensors)
            ctx.save_for_backward(*[t for t in tensors if t is not None])
            with torch.no_grad():
                return forward_fn(*tensors)

        @staticmethod
        def backward(ctx, *grad_outputs):
            saved = iter(ctx.saved_tensors)
            inputs = [next(saved) if present else None for present in ctx.present]
            with torch.enable_grad():
                detached = [None if t is None else t.detach().requires_grad_(t.requires_grad) for t in inputs]
                outputs = ctx.reference_fn(*detached, **ctx.params)
                if not isinstance(outputs, tuple):
                    outputs = (outputs,)
                wanted = [t for t in detached if t is not None and t.requires_grad]
                pairs = [(o, g) for o, g in zip(outputs, grad_outputs, strict=False)
                         if g is not None and o.requires_grad]
                grads = torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs],
                                            allow_unused=True) if wanted and pairs else [None] * len(wanted)
            grads_iter = iter(grads)
            result = [next(grads_iter) if t is not None and t.requires_grad else None for t in detached]
            return (None, None, None, *result)

    return RecomputeWithReference


_recompute_cls = None


def apply_kernel(name: str, launch: Callable[..., Any], reference: Callable[..., Any],
                 tensors: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Run kernel ``name`` on the path chosen for ``tensors`` (see module docstring) and return its output.

    ``launch(call, *tensors, **params)`` adapts torch tensors to the kernel's layout and calls
    ``call(kernel, args, kwargs)``; ``reference(*tensors, **params)`` is the PyTorch definition.
    """
    import torch

    path = choose_path(tensors)
    record(name, path)
    if path == PATH_REFERENCE:
        return reference(*tensors, **params)

    emulated = path == PATH_NKI and _emulated_device_call is not None
    ensure_nki(simulated=path == PATH_SIMULATE or emulated)
    caller = (_emulated_device_call if emulated else device_call) if path == PATH_NKI else simulated_call

    def call(kernel, args, kwargs):
        return caller(kernel, args, kwargs, name)

    def forward(*ts):
        return launch(call, *ts, **params)

    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if not needs_grad:
        return forward(*tensors)
    global _recompute_cls
    if _recompute_cls is None:
        _recompute_cls = _recompute_function()
    return _recompute_cls.apply(forward, reference, params, *tensors)


def run_simulated(name: str, launch: Callable[..., Any], tensors: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Run kernel ``name`` in the simulator regardless of the dispatch rule (used by tests and the CLI)."""
    import torch

    record(name, PATH_SIMULATE)
    ensure_nki(simulated=True)

    def call(kernel, args, kwargs):
        return simulated_call(kernel, args, kwargs, name)

    with torch.no_grad():
        return launch(call, *tensors, **params)
