"""Pinned host memory on the emulated neuron device.

Page-locked host memory for a device comes from its backend's C++ hooks (`getPinnedMemoryAllocator`),
which a backend registered from Python cannot provide: with `neuron` as the process's accelerator,
`torch.empty(3, pin_memory=True)` raises NotImplementedError in C++. On the emulated device a pinned
tensor is therefore a plain CPU tensor: `Tensor.pin_memory()` returns a copy, `is_pinned()` answers
False, and the factories that take `pin_memory=` (`torch.empty`, `zeros`, `tensor`, `Tensor.new_zeros`,
...) make an unpinned one. Copies to the device behave the same with or without pinning there.
"""

from __future__ import annotations

import functools

import torch

_TENSOR_FACTORIES = ("new_empty", "new_empty_strided", "new_zeros", "new_ones", "new_full", "new_tensor")


def _for_neuron(device=None) -> bool:
    if device is None:
        accelerator = torch.accelerator.current_accelerator()
        return accelerator is not None and accelerator.type == "neuron"
    return torch.device(device).type == "neuron"


def apply() -> None:
    """Patch pinning once; called with the device's other patches."""
    _patch_tensor_pinning()
    for name in _torch_factories():
        setattr(torch, name, _unpinned(getattr(torch, name), f"aten::{name}"))
    for name in _TENSOR_FACTORIES:
        original = getattr(torch.Tensor, name, None)
        if original is not None:
            setattr(torch.Tensor, name, _unpinned(original, None))


def _torch_factories() -> list[str]:
    """The public torch functions whose ATen schema takes pin_memory, and torch.tensor (parsed in C++)."""
    names = ["tensor"]
    for name in dir(torch._C._VariableFunctions):
        if name.startswith("_") or not hasattr(torch, name):
            continue
        try:
            schemas = torch._C._jit_get_schemas_for_operator(f"aten::{name}")
        except RuntimeError:
            continue
        if any(argument.name == "pin_memory" for schema in schemas for argument in schema.arguments):
            names.append(name)
    return names


def _unpinned(original, builtin: str | None):
    @functools.wraps(original)
    def factory(*args, **kwargs):
        if kwargs.get("pin_memory") and _for_neuron():
            kwargs["pin_memory"] = False
        return original(*args, **kwargs)

    if builtin is not None:
        # TorchScript finds torch.zeros & co. by identity in its builtin table; without this a scripted
        # function calling the wrapper would try to compile it.
        from torch.jit._builtins import _register_builtin

        _register_builtin(factory, builtin)
    return factory


def _patch_tensor_pinning() -> None:
    original_pin = torch.Tensor.pin_memory
    original_is_pinned = torch.Tensor.is_pinned

    def pin_memory(self, device=None):
        if _for_neuron(device):
            return self.clone()
        return original_pin(self) if device is None else original_pin(self, device)

    def is_pinned(self, device=None):
        if _for_neuron(device):
            return False
        return original_is_pinned(self) if device is None else original_is_pinned(self, device)

    torch.Tensor.pin_memory = pin_memory
    torch.Tensor.is_pinned = is_pinned
