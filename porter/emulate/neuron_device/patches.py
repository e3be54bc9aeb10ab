"""What PyTorch needs beyond the backend registration for a Python-registered device (applied once).

* torch.save / torch.load: a device tensor's storage is saved with the location "neuron:N" (as a
  CUDA tensor's is "cuda:N"); torch.load puts it back on the device, or where map_location says.
* pin_memory: page-locked host memory for the device would come from the backend's C++ hooks; on the
  emulated device a pinned tensor is a plain CPU tensor (`pinning`).
* torch.accelerator memory queries and synchronize ask C++ parts (caching allocator, device streams) a
  Python backend has not: on the neuron device they answer from torch.neuron.
* torch.Generator(device="neuron"): PyTorch asks the backend's C++ hooks for a generator, which a
  Python backend cannot provide; the device's generator is a CPU generator tagged with its device.
"""

from __future__ import annotations

import functools

import torch

from porter.emulate.neuron_device import pinning
from porter.emulate.neuron_device import tensor as _tensor

_applied = False
_loaded_on: dict[int, int] = {}  # data_ptr of a storage torch.load restored at "neuron:N" -> N


def apply() -> None:
    global _applied
    if _applied:
        return
    torch.serialization.register_package(5, _location_tag, _restore)
    torch.load = _load_wrapper(torch.load)
    torch.serialization.load = torch.load
    torch.Generator = _generator_factory()
    pinning.apply()
    _patch_accelerator_memory()
    _applied = True


def _location_tag(storage) -> str | None:
    if getattr(storage, "device", None) is None or storage.device.type != "cpu":
        return None
    index = _tensor.storage_device(storage)
    return None if index is None else f"neuron:{index}"


def _restore(storage, location: str):
    if not location.startswith("neuron"):
        return None
    index = int(location.partition(":")[2] or 0)
    _loaded_on[storage.data_ptr()] = index
    return storage


def _load_wrapper(original):
    @functools.wraps(original)
    def load(f, map_location=None, *args, **kwargs):
        _loaded_on.clear()
        result = original(f, map_location, *args, **kwargs)
        to_device = _device_target(map_location)
        if not _loaded_on and to_device is None:
            return result
        moved: dict[int, torch.Tensor] = {}

        def place(x):
            if not isinstance(x, torch.Tensor) or isinstance(x, _tensor.NeuronTensor):
                return x
            index = to_device if to_device is not None else _loaded_on.get(x.untyped_storage().data_ptr())
            if index is None or not torch.neuron.is_available():
                return x
            if id(x) not in moved:
                out = x.to(torch.device("neuron", index))
                if isinstance(x, torch.nn.Parameter):
                    out = torch.nn.Parameter(out, requires_grad=x.requires_grad)
                moved[id(x)] = out
            return moved[id(x)]

        try:
            return _map_container(place, result)
        finally:
            _loaded_on.clear()

    return load


def _device_target(map_location) -> int | None:
    if isinstance(map_location, (str, torch.device)):
        device = torch.device(map_location)
        if device.type == "neuron":
            return device.index or 0
    return None


def _map_container(fn, value):
    if isinstance(value, dict):
        out = type(value)() if type(value) is not dict else {}
        for k, v in value.items():
            out[k] = _map_container(fn, v)
        if hasattr(value, "_metadata"):
            out._metadata = value._metadata
        return out
    if isinstance(value, list):
        return [_map_container(fn, v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_map_container(fn, v) for v in value)
    return fn(value)


def _generator_factory():
    original = torch._C.Generator

    class NeuronGenerator(original):
        """A CPU generator (what the ops on the emulated device consume) that reports a neuron device."""

        def __new__(cls, device="neuron"):
            return original.__new__(cls)  # a CPU generator underneath (the device's ops run on the CPU)

        def __init__(self, device="neuron") -> None:
            self._neuron_device = torch.device(device)
            if self._neuron_device.index is None:
                self._neuron_device = torch.device("neuron", torch.neuron.current_device())

        @property
        def device(self) -> torch.device:
            return self._neuron_device

    class _Meta(type):
        def __instancecheck__(cls, obj) -> bool:
            return isinstance(obj, original)

        def __subclasscheck__(cls, sub) -> bool:
            return issubclass(sub, original)

        def __call__(cls, device="cpu"):
            if torch.device(device).type == "neuron":
                return NeuronGenerator(device)
            return original(device)

    class Generator(metaclass=_Meta):
        """torch.Generator, which also makes generators for the emulated neuron device."""

    _tensor.NeuronGenerator = NeuronGenerator
    return Generator


def _patch_accelerator_memory() -> None:
    import torch.accelerator.memory as memory

    def neuron_active() -> bool:
        accelerator = torch.accelerator.current_accelerator()
        return accelerator is not None and accelerator.type == "neuron" and torch.neuron.is_available()

    answers = {
        "memory_stats": lambda *a, **k: torch.neuron.memory_stats(),
        "memory_allocated": lambda *a, **k: torch.neuron.memory_allocated(),
        "max_memory_allocated": lambda *a, **k: torch.neuron.max_memory_allocated(),
        "memory_reserved": lambda *a, **k: torch.neuron.memory_reserved(),
        "max_memory_reserved": lambda *a, **k: torch.neuron.max_memory_reserved(),
        "reset_peak_memory_stats": lambda *a, **k: torch.neuron.reset_peak_memory_stats(),
        "reset_accumulated_memory_stats": lambda *a, **k: None,
        "empty_cache": lambda *a, **k: None,
        "get_memory_info": lambda *a, **k: torch.neuron.mem_get_info(),
    }
    for name, answer in {"synchronize": lambda *a, **k: torch.neuron.synchronize(),
                         "current_stream": lambda *a, **k: torch.neuron.current_stream(),
                         "set_device_index": lambda device, *a, **k: torch.neuron.set_device(device),
                         "set_device_idx": lambda device, *a, **k: torch.neuron.set_device(device),
                         "current_device_index": lambda *a, **k: torch.neuron.current_device(),
                         "current_device_idx": lambda *a, **k: torch.neuron.current_device()}.items():
        original = getattr(torch.accelerator, name)

        def patched_top(*args, _original=original, _answer=answer, **kwargs):
            return _answer(*args, **kwargs) if neuron_active() else _original(*args, **kwargs)

        setattr(torch.accelerator, name, functools.wraps(original)(patched_top))
    for name, answer in answers.items():
        original = getattr(memory, name, None)
        if original is None:
            continue

        def patched(*args, _original=original, _answer=answer, **kwargs):
            return _answer(*args, **kwargs) if neuron_active() else _original(*args, **kwargs)

        setattr(memory, name, functools.wraps(original)(patched))
        if getattr(torch.accelerator, name, None) is original:
            setattr(torch.accelerator, name, memory.__dict__[name])
