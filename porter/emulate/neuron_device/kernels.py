"""NKI on the emulated device. porter.kernels: a kernel called with `neuron` tensors runs its NKI kernel in
porter's simulator (what the NeuronCore would run), and the simulator's figures go into the run report.
Any other NKI kernel (`import nki`, as on a Neuron machine: the simulator stands in for the SDK when it is
absent) called with `neuron` tensors reads and writes their storage in place (a Triton kernel's verified
translation that `porter port --verify` dispatches to, a user's own `@nki.jit`)."""

from __future__ import annotations

import sys
from typing import Any

from porter.emulate.neuron_device import tensor as _tensor

_state = None
_simulator_installed = False  # did install() put porter's simulator under the name `nki`?


def install(state) -> None:
    global _state, _simulator_installed
    _state = state
    try:
        from porter.nki import convert, install_simulator
    except ImportError:  # the simulator needs numpy and ml_dtypes (the runtime extra)
        pass
    else:
        _simulator_installed = "nki" not in sys.modules and install_simulator()
        convert.set_device_bridge(lambda t: t._data if isinstance(t, _tensor.NeuronTensor) else None,
                                  lambda t, like: _tensor.NeuronTensor(t, like.device.index or 0), _ran)
    try:
        from porter.kernels import _runtime
    except ImportError:  # porter installed without its kernel library
        return
    _runtime.set_emulated_device_call(_device_call)


def uninstall() -> None:
    global _state, _simulator_installed
    _state = None
    if "porter.nki" in sys.modules:
        from porter.nki import convert, uninstall_simulator

        convert.set_device_bridge(None)
        if _simulator_installed:
            uninstall_simulator()
    _simulator_installed = False
    try:
        from porter.kernels import _runtime
    except ImportError:
        return
    _runtime.set_emulated_device_call(None)


def _ran(name: str, stats: Any) -> None:
    """An NKI kernel ran with `neuron` tensors (not through porter.kernels, which records its own calls)."""
    _record(name, stats.as_dict() if stats is not None and hasattr(stats, "as_dict") else None)


def _record(name: str, figures: dict | None) -> None:
    state = _state
    if state is None:
        return
    state.kernel_calls[(name, "NKI simulator")] += 1
    if figures:
        merged = state.kernel_stats.setdefault(name, {})
        merged["instructions"] = merged.get("instructions", 0) + sum(figures.get("instructions", {}).values())
        for key in ("hbm_to_sbuf_bytes", "sbuf_to_hbm_bytes"):
            merged[key] = merged.get(key, 0) + figures.get(key, 0)
        for key in ("peak_sbuf_partition_bytes", "peak_psum_banks"):
            merged[key] = max(merged.get(key, 0), figures.get(key, 0))


def _device_call(kernel: Any, args: tuple, kwargs: dict, name: str = "") -> Any:
    import torch
    from torch.utils._pytree import tree_map

    from porter.kernels import _runtime

    index = next((a.device.index or 0 for a in args if isinstance(a, _tensor.NeuronTensor)), 0)
    unwrap = lambda x: x._data if isinstance(x, _tensor.NeuronTensor) else x  # noqa: E731
    result = _runtime.simulated_call(kernel, tree_map(unwrap, args), tree_map(unwrap, kwargs), name)
    if _state is not None:
        stats = _runtime.last_run_stats(name) if name else _runtime.last_run_stats()
        _record(name or getattr(kernel, "__name__", "kernel"),
                stats.as_dict() if stats is not None and hasattr(stats, "as_dict") else None)
    wrap = lambda x: _tensor.NeuronTensor(x, index) if isinstance(x, torch.Tensor) else x  # noqa: E731
    return tree_map(wrap, result)
