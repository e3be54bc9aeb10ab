"""The emulated machine of this process: GPU profile, device count, current device, RNG, call log."""

from __future__ import annotations

import contextlib
import threading

from porter.emulate.cuda.calllog import CallLog, caller_site
from porter.emulate.cuda.profiles import GpuProfile, profile

active = False
gpu: GpuProfile = profile("a100")
device_count = 1
calls = CallLog()
memory = None  # set by porter.emulate.cuda.tensor
_local = threading.local()
_generators: dict[int, object] = {}


def configure(profile_key: str, devices: int, log_path: str | None) -> None:
    global gpu, device_count, calls
    gpu = profile(profile_key)
    if devices < 1:
        raise ValueError(f"an emulated machine needs at least one GPU (got devices={devices})")
    device_count = devices
    calls = CallLog(log_path)


def log(call: str, instead: str) -> None:
    calls.record(call, instead)


def current_device() -> int:
    return getattr(_local, "device", 0)


def set_current_device(index: int) -> None:
    import torch

    _local.device = check_index(index)
    # C++ resolves `cuda` without an index (as in `.cuda()`) through the device guard's current device
    torch._C._accelerator_setDeviceIndex(index)


def check_index(index: int) -> int:
    if not 0 <= index < device_count:
        raise RuntimeError(f"CUDA error: invalid device ordinal (device {index}; the emulated machine has "
                           f"{device_count} GPU{'s' if device_count > 1 else ''}: porter run --device cuda --cores N)")
    return index


def device_index(device) -> int:
    """The index of a device given as None, int, str or torch.device (None: the current device)."""
    import torch

    if device is None:
        return current_device()
    if isinstance(device, int):
        return check_index(device)
    if isinstance(device, str):
        device = torch.device(device)
    if isinstance(device, torch.device):
        if device.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {device}")
        return current_device() if device.index is None else check_index(device.index)
    raise ValueError(f"Expected a cuda device, but got: {device!r}")


def generator(index: int):
    """The emulated CUDA default generator of a device (a CPU generator: numbers differ from a GPU's Philox)."""
    import torch

    g = _generators.get(index)
    if g is None:
        g = torch._C.Generator("cpu")
        g.manual_seed(torch.initial_seed())
        _generators[index] = g
    return g


@contextlib.contextmanager
def cuda_rng(index: int):
    """Inside it, the CPU default generator is the device's emulated CUDA generator."""
    import torch

    cpu = torch.default_generator
    saved = cpu.get_state()
    cpu.set_state(generator(index).get_state())
    try:
        yield
    finally:
        generator(index).set_state(cpu.get_state())
        cpu.set_state(saved)


def feature_error(feature: str) -> str:
    file, line = caller_site()
    return (f"{file}:{line}: {feature} cannot be emulated on a CPU; porter's CUDA emulation stops here instead "
            "of returning a wrong answer (see docs/cuda-emulation.md)")
