"""Where each side of a parity check runs: the CPU, or porter's emulated devices.

The candidate's default is the emulated Neuron device (porter.emulate.neuron): the ported code runs
as on a NeuronCore, with the Neuron operator table enforced and porter.kernels' NKI kernels run in
the simulator, so what is compared is what Neuron would run. The reference may run under CUDA
emulation (porter.emulate.cuda), for original code that insists on a GPU. Each run moves the model
and inputs onto the device inside the emulation, and everything back to the CPU before it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

CANDIDATE_DEVICES = ("neuron", "cpu")
REFERENCE_DEVICES = ("cpu", "cuda")


def _to(value: Any, device: str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        if hasattr(value, "_fields"):
            return type(value)(*(_to(v, device) for v in value))
        return type(value)(_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def to_cpu(value: Any) -> Any:
    """Tensors (nested in tuples, lists, dicts, dataclasses) as plain CPU tensors."""
    import dataclasses

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu") if value.device.type != "cpu" else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value)(**{f.name: to_cpu(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, (tuple, list, dict)):
        return _to(value, "cpu")
    return value


@contextlib.contextmanager
def emulated(device: str) -> Iterator[None]:
    """The emulation a device needs, for the length of one run."""
    if device == "neuron":
        import porter.emulate as emulate

        with emulate.neuron():
            yield
    elif device == "cuda":
        from porter.emulate.cuda import cuda

        with cuda():
            yield
    else:
        yield


@contextlib.contextmanager
def placed(model: torch.nn.Module, args: tuple, kwargs: dict,
           device: str) -> Iterator[tuple[torch.nn.Module, tuple, dict]]:
    """Inside the device's emulation: a copy of the model and the inputs on the device. The caller's
    model stays on the CPU: moving back is not always possible (tied weights of emulated tensors
    cannot be swapped), and an emulated tensor must not outlive its emulation anyway."""
    if device == "cpu":
        yield model, args, kwargs
        return
    import copy

    with emulated(device):
        yield copy.deepcopy(model).to(device), _to(args, device), _to(kwargs, device)


def label(device: str) -> str:
    return {"neuron": "the emulated neuron device", "cuda": "the emulated cuda device"}.get(device, "cpu")


def module_to_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """The model's parameters and buffers replaced, in place, by CPU copies; tied tensors stay tied.
    (`Module.to("cpu")` swaps tensors one by one, which fails for a tied emulated tensor.)"""
    memo: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                if id(param) not in memo:
                    memo[id(param)] = torch.nn.Parameter(param.detach().to("cpu", copy=True),
                                                         requires_grad=param.requires_grad)
                module._parameters[name] = memo[id(param)]
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                memo.setdefault(id(buffer), buffer.detach().to("cpu", copy=True))
                module._buffers[name] = memo[id(buffer)]
    return model
