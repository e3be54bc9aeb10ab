"""`torch.neuron`: the device module TorchNeuron registers, as its docs describe it, on the emulated device.

Availability is true only while emulation is active (`with porter.emulate.neuron_device():` or `porter run`),
so code outside it takes its CPU branch. Memory figures are the bytes held by device tensors.
"""

from __future__ import annotations

import contextlib
import types

import torch

from porter.emulate.neuron_device import tensor as _tensor

_active = False
_count = 1
_current = 0
_platform = None  # porter.emulate.platforms.Platform


def configure(active: bool, cores: int = 1, platform=None) -> None:
    global _active, _count, _platform, _current
    _active = active
    _count = max(1, int(cores))
    _platform = platform
    if _current >= _count:
        _current = 0


def is_available() -> bool:
    return _active


def is_initialized() -> bool:
    return _active


def device_count() -> int:
    return _count if _active else 0


def current_device() -> int:
    return _current


def _index(device) -> int:
    if device is None:
        return _current
    if isinstance(device, int):
        return device
    device = torch.device(device)
    if device.type != "neuron":
        raise ValueError(f"expected a neuron device, got {device}")
    return _current if device.index is None else device.index


def set_device(device) -> None:
    global _current
    index = _index(device)
    if not 0 <= index < _count:
        raise RuntimeError(f"neuron device {index} does not exist: this emulated machine has {_count} "
                           f"(porter run --cores N)")
    _current = index


@contextlib.contextmanager
def device(device):
    previous = _current
    set_device(device)
    try:
        yield
    finally:
        set_device(previous)


def synchronize(device=None) -> None:
    """Eager ops run synchronously on the emulated device: nothing to wait for."""


def get_device_name(device=None) -> str:
    name = _platform.name if _platform is not None else "trn2"
    return f"Emulated NeuronCore ({name}, porter)"


def get_device_properties(device=None):
    total = _platform.hbm_per_device if _platform is not None else 0
    return types.SimpleNamespace(name=get_device_name(device), total_memory=total,
                                 platform=_platform.name if _platform else "trn2")


def get_amp_supported_dtype() -> list[torch.dtype]:
    return [torch.bfloat16, torch.float16]


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return True


def _is_in_bad_fork() -> bool:
    return False


# ------------------------------------------------------------------------------------------------ seeding

def manual_seed(seed: int) -> None:
    _tensor.device_generator(_current).manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    for index in range(_count):
        _tensor.device_generator(index).manual_seed(int(seed))


def seed() -> None:
    _tensor.device_generator(_current).seed()


def seed_all() -> None:
    for index in range(_count):
        _tensor.device_generator(index).seed()


def initial_seed() -> int:
    return _tensor.device_generator(_current).initial_seed()


def get_rng_state(device=None) -> torch.Tensor:
    return _tensor.device_generator(_index(device)).get_state()


def set_rng_state(new_state: torch.Tensor, device=None) -> None:
    _tensor.device_generator(_index(device)).set_state(new_state.cpu() if new_state.device.type != "cpu"
                                                       else new_state)


def get_rng_state_all() -> list[torch.Tensor]:
    return [get_rng_state(i) for i in range(_count)]


def set_rng_state_all(states) -> None:
    for index, state in enumerate(states):
        set_rng_state(state, index)


# ------------------------------------------------------------------------------------------------- memory

def _run_state():
    return _tensor._state


def memory_allocated(device=None) -> int:
    state = _run_state()
    return state.current_bytes if state is not None else 0


def max_memory_allocated(device=None) -> int:
    state = _run_state()
    return state.peak_bytes if state is not None else 0


def reset_peak_memory_stats(device=None) -> None:
    state = _run_state()
    if state is not None:
        state.peak_bytes = state.current_bytes


memory_reserved = memory_allocated
max_memory_reserved = max_memory_allocated


def empty_cache() -> None:
    """No caching allocator to empty."""


def memory_stats(device=None) -> dict[str, int]:
    return {"allocated_bytes.all.current": memory_allocated(device),
            "allocated_bytes.all.peak": max_memory_allocated(device)}


def mem_get_info(device=None) -> tuple[int, int]:
    total = _platform.hbm_per_device if _platform is not None else 0
    return max(0, total - memory_allocated(device)), total


class Stream:
    """Device streams: ops on the emulated device run in order, so a stream only records what was asked."""

    def __init__(self, device=None, priority: int = 0) -> None:
        self.device = torch.device("neuron", _index(device))
        self.priority = priority

    def synchronize(self) -> None:
        pass

    def wait_stream(self, stream) -> None:
        pass

    def wait_event(self, event) -> None:
        pass

    def record_event(self, event=None):
        return event if event is not None else Event()

    def query(self) -> bool:
        return True


class Event:
    def __init__(self, enable_timing: bool = False, blocking: bool = False) -> None:
        self.enable_timing = enable_timing

    def record(self, stream=None) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def wait(self, stream=None) -> None:
        pass

    def query(self) -> bool:
        return True


_default_stream = None


def current_stream(device=None) -> Stream:
    global _default_stream
    if _default_stream is None:
        _default_stream = Stream(device)
    return _default_stream


default_stream = current_stream


@contextlib.contextmanager
def stream(s):
    yield s
