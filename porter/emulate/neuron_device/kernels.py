"""porter.kernels on the emulated device: a kernel called with `neuron` tensors runs its NKI kernel in
porter's simulator (what the NeuronCore would run), and the simulator's figures go into the run report."""

from __future__ import annotations

from typing import Any

from porter.emulate.neuron_device import tensor as _tensor

_state = None


def install(state) -> None:
    global _state
    _state = state
    try:
        from porter.kernels import _runtime
    except ImportError:  # porter installed without its kernel library
        return
    _runtime.set_emulated_device_call(_device_call)


def uninstall() -> None:
    global _state
    _state = None
    try:
        from porter.kernels import _runtime
    except ImportError:
        return
    _runtime.set_emulated_device_call(None)


def _device_call(kernel: Any, args: tuple, kwargs: dict, name: str = "") -> Any:
    import torch
    from torch.utils._pytree import tree_map

    from porter.kernels import _runtime

    index = next((a.device.index or 0 for a in args if isinstance(a, _tensor.NeuronTensor)), 0)
    unwrap = lambda x: x._data if isinstance(x, _tensor.NeuronTensor) else x  # noqa: E731
    result = _runtime.simulated_call(kernel, tree_map(unwrap, args), tree_map(unwrap, kwargs), name)
    state = _state
    if state is not None:
        state.kernel_calls[(name or getattr(kernel, "__name__", "kernel"), "NKI simulator")] += 1
        stats = _runtime.last_run_stats(name) if name else _runtime.last_run_stats()
        if stats is not None and hasattr(stats, "as_dict"):
            figures = stats.as_dict()
            merged = state.kernel_stats.setdefault(name or "kernel", {})
            merged["instructions"] = merged.get("instructions", 0) + sum(figures.get("instructions", {}).values())
            for key in ("hbm_to_sbuf_bytes", "sbuf_to_hbm_bytes"):
                merged[key] = merged.get(key, 0) + figures.get(key, 0)
            for key in ("peak_sbuf_partition_bytes", "peak_psum_banks"):
                merged[key] = max(merged.get(key, 0), figures.get(key, 0))
    wrap = lambda x: _tensor.NeuronTensor(x, index) if isinstance(x, torch.Tensor) else x  # noqa: E731
    return tree_map(wrap, result)
