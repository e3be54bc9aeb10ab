"""Tensors that live in CPU memory and are, to PyTorch and to the program, on a CUDA device.

`CudaTensor` is a wrapper subclass (as fake tensors are): its own TensorImpl has device `cuda:i`,
so `x.device`, `x.is_cuda`, autograd, CUDA autocast and every C++ device check see a CUDA tensor;
the data sits in `elem`, a CPU tensor, and every ATen operator runs on it with PyTorch's CPU
kernels (`__torch_dispatch__`). Operators with no tensor argument but `device="cuda"` (factories)
reach the CUDA dispatch key and are served by a fallback registered there (`factories.py`).
"""

from __future__ import annotations

import collections
import copy
import threading
import weakref

import torch
from torch.utils._python_dispatch import return_and_correct_aliasing
from torch.utils._pytree import tree_flatten, tree_unflatten

from porter.emulate.cuda import rnn_cells, state
from porter.emulate.cuda.calllog import caller_site

_CPU = torch.device("cpu")

# Operators that take tensors of different devices on a real GPU too.
_CROSS_DEVICE = {  # schema names (no overload)
    "aten::copy_", "aten::_to_copy", "aten::to", "aten::index", "aten::index_put_", "aten::index_put",
    "aten::_index_put_impl_", "aten::set_", "aten::lift_fresh", "aten::_copy_from", "aten::_copy_from_and_resize",
    "aten::_has_compatible_shallow_copy_type",
}


class UnemulatableError(RuntimeError):
    """A GPU feature that cannot be emulated on a CPU was used."""


class CudaTensor(torch.Tensor):
    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor, index: int, requires_grad: bool = False):
        r = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(), dtype=elem.dtype,
            layout=elem.layout, device=torch.device("cuda", index), requires_grad=requires_grad,
        )
        r.elem = elem
        state.memory.track(elem, index)
        return r

    def __tensor_flatten__(self):
        return ["elem"], self.device.index

    @staticmethod
    def __tensor_unflatten__(inner, ctx, outer_size, outer_stride):
        return CudaTensor(inner["elem"], ctx)

    def __repr__(self, *, tensor_contents=None):
        with torch._C.DisableTorchFunctionSubclass():
            body = repr(self.elem)
        suffix = f", device='{self.device}'"
        if self.requires_grad and self.grad_fn is None:
            suffix += ", requires_grad=True"
        elif self.grad_fn is not None:
            suffix += f", grad_fn=<{type(self.grad_fn).__name__}>"
        if body.endswith(")"):
            inner = body[:-1]
            for tail in (", requires_grad=True",):
                inner = inner.replace(tail, "")
            return inner + suffix + ")"
        return body

    def numpy(self, *args, **kwargs):
        raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                        "Use Tensor.cpu() to copy the tensor to host memory first.")

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = CudaTensor(self.elem.clone(), self.device.index, requires_grad=self.requires_grad)
        memo[id(self)] = new
        for key, value in self.__dict__.items():  # _is_param (a Parameter), user attributes
            if key != "elem":
                setattr(new, key, copy.deepcopy(value, memo))
        if self.grad is not None:
            new.grad = copy.deepcopy(self.grad, memo)
        return new

    def __reduce_ex__(self, protocol):
        # pickled (torch.save, multiprocessing) as the CPU tensor: files written under emulation load anywhere
        state.calls.record("torch.save / pickle of a cuda tensor", "written as the CPU tensor behind it",
                           site=caller_site())
        if getattr(self, "_is_param", False):
            return torch._utils._rebuild_parameter, (self.elem, self.requires_grad, collections.OrderedDict())
        return self.elem.__reduce_ex__(protocol)

    def untyped_storage(self):
        # the CPU memory (its data_ptr identifies shared storage, as checkpoint savers use it)
        return self.elem.untyped_storage()

    def __format__(self, format_spec: str) -> str:
        # torch.Tensor formats a 0-dim tensor as its number only when its type is exactly Tensor:
        # f"{loss:.4f}" on a device tensor works on a real device, so it must here too.
        if self.dim() == 0:
            return self.elem.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    def tolist(self):
        return self.elem.tolist()

    def data_ptr(self) -> int:
        state.log("Tensor.data_ptr()", "host address of the CPU memory behind the emulated CUDA tensor "
                  "(valid for aliasing checks, not as a device address)")
        return self.elem.data_ptr()

    @property
    def __cuda_array_interface__(self):
        raise UnemulatableError(state.feature_error(
            "__cuda_array_interface__ (a raw device pointer handed to another CUDA library)"))

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name
        flat, spec = tree_flatten((args, kwargs))
        index = None
        for x in flat:
            if isinstance(x, CudaTensor):
                i = x.device.index
                if index is None:
                    index = i
                elif i != index and name not in _CROSS_DEVICE:
                    raise RuntimeError("Expected all tensors to be on the same device, but found at least two "
                                       f"devices, cuda:{index} and cuda:{i}!")
        if index is not None and name not in _CROSS_DEVICE:
            for x in flat:
                if type(x) is torch.Tensor and x.device.type == "cpu" and x.dim() > 0:
                    raise RuntimeError("Expected all tensors to be on the same device, but found at least two "
                                       f"devices, cuda:{index} and cpu!")
        target = index
        device_kw = kwargs.get("device")
        if isinstance(device_kw, torch.device):
            target = (device_kw.index if device_kw.index is not None else state.current_device()) \
                if device_kw.type == "cuda" else None
        unwrapped = tree_unflatten([_unwrap(x) for x in flat], spec)
        uargs, ukwargs = unwrapped
        out = run(func, uargs, ukwargs, target if target is not None else index)
        inplace_view = torch.Tag.inplace_view in func.tags  # t_, transpose_, ...: the wrapper follows below
        for x in flat:
            if not inplace_view and isinstance(x, CudaTensor) and (
                    x.shape != x.elem.shape or x.stride() != x.elem.stride()):
                _metadata_changed(x, func)
        if target is None:
            return out
        plain = {id(x): x for x in flat if type(x) is torch.Tensor}
        if plain and any(id(o) in plain for o in tree_flatten(out)[0]):
            # a CPU tensor written in place from an emulated one (param.copy_(cuda_tensor)) stays what it is
            flat_out, out_spec = tree_flatten(out)
            return tree_unflatten([o if id(o) in plain else CudaTensor(o, target) if type(o) is torch.Tensor else o
                                   for o in flat_out], out_spec)
        if index is None:  # no emulated input to alias (a CPU tensor copied to cuda)
            return _wrap_all(out, target)
        if torch.is_inference_mode_enabled() and not inplace_view:
            # inference tensors have no version counter to share: in-place results are their inputs, views are new
            inputs = {id(x.elem): x for x in flat if isinstance(x, CudaTensor)}
            flat_out, out_spec = tree_flatten(out)
            if func.is_view and not any(x.is_inference() for x in inputs.values()):
                with torch.inference_mode(False):  # a view of a normal tensor is a normal tensor
                    return tree_unflatten([CudaTensor(o, target) if type(o) is torch.Tensor else o
                                           for o in flat_out], out_spec)
            return tree_unflatten([inputs[id(o)] if id(o) in inputs else
                                   CudaTensor(o, target) if type(o) is torch.Tensor else o for o in flat_out], out_spec)
        return return_and_correct_aliasing(func, args, kwargs, _wrap_all(out, target))


def _metadata_changed(w: CudaTensor, func) -> None:
    # A wrapper's sizes are fixed at creation: an out= or resize_ that reshapes one cannot be mirrored.
    raise UnemulatableError(state.feature_error(
        f"{func._schema.name} resizing an emulated CUDA tensor in place (from {tuple(w.shape)} to "
        f"{tuple(w.elem.shape)}; pass an out= tensor of the result's shape, or no out=)"))


def _unwrap(x):
    if isinstance(x, CudaTensor):
        return x.elem
    if isinstance(x, torch.device) and x.type == "cuda":
        return _CPU
    return x


def _wrap_all(out, index: int):
    flat, spec = tree_flatten(out)
    return tree_unflatten([CudaTensor(x, index) if type(x) is torch.Tensor else x for x in flat], spec)


def _softmax_half_to_float(func, args, kwargs):
    # CUDA's kernel reads fp16 and writes fp32 (autocast asks for it); CPU has no such kernel: upcast first
    x, dim, half_to_float = args
    if half_to_float:
        return func(x.float(), dim, False)
    return func(*args, **kwargs)


def _softmax_backward(func, args, kwargs):
    grad, out, dim, input_dtype = args
    if grad.dtype != input_dtype:
        return func(grad, out, dim, grad.dtype).to(input_dtype)
    return func(*args, **kwargs)


# ATen kernels that exist on CUDA but not in this form on the CPU, and the CPU equivalent.
_CPU_GAPS = {
    "aten::_softmax": _softmax_half_to_float,
    "aten::_log_softmax": _softmax_half_to_float,
    "aten::_softmax_backward_data": _softmax_backward,
    "aten::_log_softmax_backward_data": _softmax_backward,
    "aten::record_stream": lambda func, args, kwargs: None,  # one in-order stream: nothing to protect
    "aten::_thnn_fused_lstm_cell": rnn_cells.lstm_cell,
    "aten::_thnn_fused_lstm_cell_backward_impl": rnn_cells.lstm_cell_backward,
    "aten::_thnn_fused_gru_cell": rnn_cells.gru_cell,
    "aten::_thnn_fused_gru_cell_backward": rnn_cells.gru_cell_backward,
}


def run(func, args, kwargs, index: int | None):
    """Run an ATen operator on CPU tensors; random operators draw from the emulated device's generator."""
    gap = _CPU_GAPS.get(func._schema.name)
    if gap is not None:
        return gap(func, args, kwargs)
    if index is not None and torch.Tag.nondeterministic_seeded in func.tags and kwargs.get("generator") is None \
            and not any(isinstance(a, torch.Generator) for a in args):
        with state.cuda_rng(index):
            return func(*args, **kwargs)
    return func(*args, **kwargs)


def to_cuda(t: torch.Tensor, index: int) -> CudaTensor:
    """A CPU tensor's data as a new emulated CUDA tensor (keeps autograd: it is `t.to('cuda:i')`)."""
    return t.to(torch.device("cuda", index))


class _Memory:
    """Bytes of live emulated CUDA tensors per device (the caching allocator's `allocated` figure)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.storages: dict[int, list] = {}  # storage address -> [nbytes, wrappers alive, device]
        self.allocated: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.reserved: dict[int, int] = {}
        self.peak_reserved: dict[int, int] = {}
        self.num_allocs: dict[int, int] = {}

    def track(self, elem, index: int) -> None:
        try:
            storage = elem.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return
        key = storage.data_ptr()
        if not key:
            return
        with self.lock:
            entry = self.storages.get(key)
            if entry is None:
                nbytes = storage.nbytes()
                self.storages[key] = [nbytes, 1, index]
                now = self.allocated.get(index, 0) + nbytes
                self.allocated[index] = now
                self.num_allocs[index] = self.num_allocs.get(index, 0) + 1
                self.peak[index] = max(self.peak.get(index, 0), now)
                seg = 2 * 1024 * 1024  # the allocator reserves memory in 2 MiB segments
                reserved = max(self.reserved.get(index, 0), -(-now // seg) * seg)
                self.reserved[index] = reserved
                self.peak_reserved[index] = max(self.peak_reserved.get(index, 0), reserved)
            else:
                entry[1] += 1
        # the CPU tensor, not the wrapper: a wrapper with a weak reference cannot be swapped into a Parameter
        weakref.finalize(elem, self._release, key)

    def _release(self, key: int) -> None:
        with self.lock:
            entry = self.storages.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del self.storages[key]
                self.allocated[entry[2]] -= entry[0]

    def reset_peak(self, index: int) -> None:
        with self.lock:
            self.peak[index] = self.allocated.get(index, 0)
            self.peak_reserved[index] = self.reserved.get(index, 0)

    def empty_cache(self) -> None:
        with self.lock:
            seg = 2 * 1024 * 1024
            for i, now in self.allocated.items():
                self.reserved[i] = -(-now // seg) * seg


state.memory = _Memory()
