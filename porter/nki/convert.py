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


# The CPU storage of a tensor on an emulated device (porter.emulate), or None: set by that device while
# it is active, so that a kernel called with its tensors reads and writes their memory in place, as a
# NeuronCore reads and writes HBM.
_device_storage: Callable[[Any], Any] | None = None


def set_device_storage(storage: Callable[[Any], Any] | None) -> None:
    """`storage(tensor)`: the CPU tensor holding a device tensor's data, or None when it is not one."""
    global _device_storage
    _device_storage = storage


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
