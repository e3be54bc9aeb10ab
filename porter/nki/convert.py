"""Conversion between caller arrays (NumPy / torch CPU) and simulated HBM tensors.

torch is imported only when a torch tensor is actually passed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from porter.nki import dtypes
from porter.nki.errors import NkiValidationError
from porter.nki.memory import Allocation
from porter.nki.tensor import NkiTensor, hbm

_TORCH_BITCAST = {
    "bfloat16": ("int16", ml_dtypes.bfloat16),
    "float8_e4m3fn": ("uint8", ml_dtypes.float8_e4m3fn),
    "float8_e5m2": ("uint8", ml_dtypes.float8_e5m2),
}


# An emulated device (porter.emulate) while it is active: how to reach a device tensor's CPU storage (so
# that a kernel called with its tensors reads and writes their memory in place, as a NeuronCore reads and
# writes HBM), how to put a kernel's new output tensors on the device, and whom to tell a kernel ran there.
_device_storage: Callable[[Any], Any] | None = None
_to_device: Callable[[Any, Any], Any] | None = None
_device_ran: Callable[[str, Any], None] | None = None


def set_device_bridge(storage: Callable[[Any], Any] | None, to_device: Callable[[Any, Any], Any] | None = None,
                      ran: Callable[[str, Any], None] | None = None) -> None:
    """`storage(tensor)`: the CPU tensor holding a device tensor's data, or None when it is not one;
    `to_device(cpu_tensor, like)`: that tensor on the device of the device tensor `like`; `ran(name, stats)`:
    called after a kernel ran with device tensors. All None: no emulated device."""
    global _device_storage, _to_device, _device_ran
    _device_storage, _to_device, _device_ran = storage, to_device, ran


def device_tensor(args: Any) -> Any:
    """The first of `args` that is an emulated device's tensor, or None."""
    if _device_storage is None:
        return None
    return next((a for a in args if is_torch_tensor(a) and a.device.type != "cpu" and _device_storage(a) is not None),
                None)


def on_device(value: Any, like: Any, name: str, stats: Any) -> Any:
    """A kernel's result (torch tensors, or tuples/lists/dicts of them) put on the device of `like`, a device
    tensor it was called with; the device is told the kernel ran."""
    if _device_ran is not None:
        _device_ran(name, stats)
    return _put(value, like) if _to_device is not None else value


def _put(value: Any, like: Any) -> Any:
    if is_torch_tensor(value):
        return _to_device(value, like)
    if isinstance(value, (tuple, list)):
        return type(value)(_put(v, like) for v in value)
    if isinstance(value, dict):
        return {k: _put(v, like) for k, v in value.items()}
    return value


def is_torch_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_to_numpy(t: Any, what: str) -> tuple[np.ndarray, str]:
    import torch

    if t.device.type != "cpu":
        held = _device_storage(t) if _device_storage is not None else None
        if held is not None:
            return _torch_to_numpy(held, what)
        raise NkiValidationError(f"{what}: torch tensor is on {t.device}; the CPU simulator needs CPU tensors")
    t = t.detach()
    name = dtypes.normalize(t.dtype, what)
    if name in _TORCH_BITCAST:
        raw_name, np_type = _TORCH_BITCAST[name]
        raw = t.view(getattr(torch, raw_name)).numpy()
        return raw.view(np_type), name
    return t.numpy(), name


def to_hbm(arg: Any, what: str) -> tuple[NkiTensor, Callable[[], None] | None]:
    """Wrap an input array as an HBM tensor; returns a write-back hook when data had to be copied."""
    if is_torch_tensor(arg):
        arr, name = _torch_to_numpy(arg, what)
    else:
        arr = np.asarray(arg)
        if arr.dtype.kind == "f" and arr.dtype.itemsize == 8:
            raise NkiValidationError(f"{what}: float64 arrays are not supported (NKI has no float64); pass float32")
        if arr.dtype.kind in "iu" and arr.dtype.itemsize == 8:
            raise NkiValidationError(f"{what}: int64 arrays are not supported (NKI has no int64); pass int32")
        name = dtypes.normalize(arr.dtype, what)
    store = dtypes.storage_type(name)
    shared = arr.dtype == store and arr.flags.c_contiguous and arr.flags.writeable and arr.ndim > 0
    data = (
        arr
        if shared
        else np.array(dtypes.cast(arr, name), dtype=store, order="C", copy=True).reshape(arr.shape or (1,))
    )
    alloc = Allocation("hbm", name, tuple(data.shape), data, what)
    tensor = NkiTensor(alloc, data.shape, buffer=hbm)
    if shared:
        return tensor, None

    def write_back() -> None:
        if alloc.dirty and arr.flags.writeable:
            arr[...] = data.astype(arr.dtype).reshape(arr.shape)

    return tensor, write_back


def from_hbm(t: NkiTensor, as_torch: bool) -> Any:
    """A caller-owned copy of an output tensor's values, as NumPy or torch."""
    arr = np.ascontiguousarray(t._read_raw())
    if not as_torch:
        return arr
    import torch

    name = t.dtype
    if arr.dtype == np.float32 or name not in _TORCH_BITCAST:
        if arr.dtype.kind == "V" or arr.dtype.name.startswith(("float8", "bfloat")):
            arr = arr.astype(np.float32)  # e.g. legacy float8_e4m3 has no torch dtype
        return torch.from_numpy(arr.copy())
    raw_name, _ = _TORCH_BITCAST[name]
    return torch.from_numpy(arr.view(np.dtype(raw_name)).copy()).view(getattr(torch, name))
