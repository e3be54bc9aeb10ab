"""Operators that create a tensor on `cuda` from nothing (factories) or from a CPU tensor.

Such an operator has no emulated tensor among its arguments, so the dispatcher sends it to the CUDA
backend key, where a CPU build has no kernels. A fallback registered for that key runs the operator
on the CPU and wraps the result (`torch.zeros(3, device="cuda")`, `torch.tril_indices(..., device=
"cuda")`, the allocation inside `x.to("cuda")`, C++ code allocating on a tensor's device).
"""

from __future__ import annotations

import torch

from porter.emulate.cuda import state
from porter.emulate.cuda.tensor import CudaTensor, run

_CPU = torch.device("cpu")


def _cuda_fallback(op, *args, **kwargs):
    device = kwargs.get("device")
    index = state.current_device()
    if isinstance(device, torch.device) and device.type == "cuda":
        if device.index is not None:
            index = state.check_index(device.index)
        kwargs = {**kwargs, "device": _CPU}
    state.log(f"{op._schema.name}(device='cuda')",
              f"a CPU tensor behind an emulated cuda:{index} tensor")
    if kwargs.get("pin_memory"):
        kwargs["pin_memory"] = False
    out = run(op, args, kwargs, index)
    if isinstance(out, torch.Tensor) and not isinstance(out, CudaTensor):
        return CudaTensor(out, index)
    if isinstance(out, (tuple, list)):
        return type(out)(CudaTensor(o, index) if type(o) is torch.Tensor else o for o in out)
    return out


# Factories whose composite kernel allocates an empty result and resizes it in an out= call: served
# whole on the CUDA key (a wrapper's sizes are fixed at creation).
_RESIZING = ("arange", "arange.start", "arange.start_step", "range", "range.step", "linspace", "logspace",
             "eye", "eye.m", "randperm", "randperm.generator", "hann_window", "hamming_window", "blackman_window",
             "bartlett_window", "kaiser_window")


def _whole(op_name: str):
    packet, _, overload = op_name.partition(".")
    op = getattr(getattr(torch.ops.aten, packet), overload or "default")

    def kernel(*args, **kwargs):
        return _cuda_fallback(op, *args, **kwargs)

    return kernel


def _copy_into_emulated(self, src, non_blocking=False):
    # reached when Python dispatch is switched off around the copy (torch.tensor(data, device="cuda") does this)
    dst = self.elem if isinstance(self, CudaTensor) else self
    dst.copy_(src.elem if isinstance(src, CudaTensor) else src)
    return self


class Factories:
    def __init__(self):
        self.libs = []

    def install(self) -> None:
        fallback = torch.library.Library("_", "IMPL")
        fallback.fallback(_cuda_fallback, dispatch_key="CUDA")
        whole = torch.library.Library("aten", "IMPL")
        for name in _RESIZING:
            whole.impl(name, _whole(name), "CUDA")
        whole.impl("copy_", _copy_into_emulated, "CUDA")
        self.libs = [fallback, whole]

    def uninstall(self) -> None:
        for lib in self.libs:
            lib._destroy()
        self.libs = []
