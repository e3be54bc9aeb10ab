"""The emulated `neuron` tensor: a wrapper subclass that reports device `neuron:N` and holds a CPU tensor.

Every ATen op on it reaches `__torch_dispatch__` (below autograd and autocast, like a real backend
kernel): the op is looked up in the Neuron operator table (N raises, CPU_FALLBACK is counted, or
raises under strict), mixed neuron/CPU operands raise as on a real device, the op runs on the CPU
tensors, and the results are wrapped back onto the device.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._pytree import tree_flatten, tree_map

from porter.graph import neuron_ops

_state = None  # the active RunState (set by porter.emulate.neuron_device.activate)
_device_generators: dict[int, torch.Generator] = {}
NeuronGenerator = None  # set by patches.apply(): a CPU generator class that reports device neuron

# Ops that legitimately take a CPU tensor next to a device tensor (copies; CPU indices, as CUDA allows).
_MIXED_OK = frozenset({"_to_copy", "copy_", "_copy_from", "_copy_from_and_resize", "index", "index_put_",
                       "index_put", "_index_put_impl_", "set_", "lift_fresh", "lift_fresh_copy", "_pin_memory"})
# Bookkeeping ops that never reach the device compiler: not looked up, not counted.
_BOOKKEEPING = frozenset({"detach", "alias", "lift_fresh", "_local_scalar_dense", "_has_compatible_shallow_copy_type",
                          "is_pinned", "_pin_memory", "set_", "_to_copy", "copy_", "empty", "empty_strided",
                          "view", "_unsafe_view", "_reshape_alias", "as_strided", "resize_", "_copy_from",
                          "_copy_from_and_resize", "is_same_size", "size", "stride", "sym_size", "sym_stride",
                          "sym_numel", "sym_storage_offset", "record_stream"})


_DEVICE0 = None  # torch.device("neuron", 0), made once the backend has its name


class NeuronOpError(NotImplementedError):
    """An op the Neuron device does not run (N), or a CPU fallback under strict mode."""


class NeuronTensor(torch.Tensor):
    _data: torch.Tensor

    @staticmethod
    def __new__(cls, data: torch.Tensor, index: int = 0):
        # PyTorch's C++ side sees every emulated tensor on neuron:0: the autograd engine sizes its device
        # queues from a device count a Python backend cannot report, so an index above 0 would crash a
        # backward. Python code sees the real index through the `device` property below.
        wrapper = torch.Tensor._make_wrapper_subclass(
            cls, data.size(), strides=data.stride(), storage_offset=data.storage_offset(), dtype=data.dtype,
            layout=data.layout, device=_DEVICE0, requires_grad=data.requires_grad)
        wrapper._data = data
        wrapper._index = index
        if _state is not None:
            _track(wrapper, data)

        return wrapper

    __torch_function__ = torch._C._disabled_torch_function_impl

    @property
    def device(self) -> torch.device:
        return torch.device("neuron", self._index)

    def get_device(self) -> int:
        return self._index

    def __repr__(self, *, tensor_contents=None) -> str:
        body = repr(self._data.detach())
        body = body[len("tensor("):-1] if body.startswith("tensor(") else body
        return f"tensor({body}, device='{self.device}')"

    def __format__(self, format_spec: str) -> str:
        # torch.Tensor formats a 0-dim tensor as its number only when its type is exactly Tensor:
        # f"{loss:.4f}" on a device tensor works on a real device, so it must here too.
        if self.dim() == 0:
            return self._data.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    def tolist(self):
        return self._data.tolist()  # a device-to-host copy, as for CUDA tensors

    def numpy(self, *, force: bool = False):
        if force:
            return self._data.detach().numpy()
        raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to copy the "
                        f"tensor to host memory first.")

    def __tensor_flatten__(self):
        return ["_data"], self._index

    @staticmethod
    def __tensor_unflatten__(inner: dict, index: int, outer_size, outer_stride):
        return NeuronTensor(inner["_data"], index)

    def __reduce_ex__(self, protocol):
        # torch.save pickles the CPU tensor; its storage is tagged with this device's location
        # ("neuron:N", patches.py), so torch.load restores it on the device or where map_location says.
        return self._data.detach().requires_grad_(self.requires_grad).__reduce_ex__(protocol)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return dispatch(func, args, kwargs or {})


# ------------------------------------------------------------------------------------------------ memory

_storages: dict[int, list[int]] = {}  # storage data_ptr -> [nbytes, wrappers alive, device index]


def _storage_key(data: torch.Tensor) -> int:
    try:
        return data.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return 0


def storage_device(storage) -> int | None:
    """The emulated device index a CPU storage belongs to (None: a plain CPU storage)."""
    entry = _storages.get(storage.data_ptr())
    return None if entry is None else entry[2]


def _track(wrapper: torch.Tensor, data: torch.Tensor) -> None:
    try:
        storage = data.untyped_storage()
        key = storage.data_ptr()
    except (RuntimeError, NotImplementedError):  # fake or functional tensors (Dynamo tracing): no memory
        return
    entry = _storages.get(key)
    if entry is None:
        nbytes = storage.nbytes()
        _storages[key] = [nbytes, 1, wrapper.device.index or 0]
        _state.allocate(nbytes)
    else:
        entry[1] += 1
    # on the CPU tensor, not the wrapper: Module.to swaps wrapper objects, which a weakref forbids
    weakref.finalize(data, _untrack, key, _state)


def _untrack(key: int, state) -> None:
    entry = _storages.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _storages[key]
        state.release(entry[0])


# ---------------------------------------------------------------------------------------------- dispatch

_verdict_cache: dict[Any, tuple[str, str, str, str, bool]] = {}  # func -> (base, verdict, basis, note, composite)
_CIA = torch._C.DispatchKey.CompositeImplicitAutograd


def _verdict(func) -> tuple[str, str, str, str, bool]:
    cached = _verdict_cache.get(func)
    if cached is None:
        base = func._schema.name.split("::")[-1]
        found = neuron_ops.lookup(base)
        composite = func.has_kernel_for_dispatch_key(_CIA)
        cached = _verdict_cache[func] = (base, found.verdict, found.basis, found.note, composite)
    return cached


def _is_device_tensor(x: Any) -> bool:
    return isinstance(x, NeuronTensor)


def device_generator(index: int = 0) -> torch.Generator:
    """The random stream of emulated device `index` (a CPU generator: the device's own, not the CPU's)."""
    gen = _device_generators.get(index)
    if gen is None:
        gen = _device_generators[index] = NeuronGenerator(torch.device("neuron", index))
        gen.manual_seed(torch.initial_seed())
    return gen


def dispatch(func, args: tuple, kwargs: dict) -> Any:
    base, verdict, basis, note, composite = _verdict(func)
    if composite:
        # A composite op reaches a backend only as the ops it decomposes into (inference mode lets it
        # through to here): decompose it, and each part comes back through this function.
        result = func.decompose(*args, **kwargs)
        if result is not NotImplemented:
            return result
    state = _state
    flat, _ = tree_flatten((args, kwargs))
    index = 0
    traced = False  # Dynamo's fake tensors inside the wrappers: shapes only, no numbers drawn
    for item in flat:
        if isinstance(item, NeuronTensor):
            index = item.device.index or 0
            traced = isinstance(item._data, FakeTensor)
            break
    if base not in _BOOKKEEPING:
        if state is not None:
            state.record_op(base, verdict, basis, want_source=verdict != neuron_ops.Y)
        if verdict == neuron_ops.N:
            raise NeuronOpError(f"Could not run 'aten::{base}' on the Neuron device: the operator table marks it N "
                                f"(not supported on Neuron: {neuron_ops.basis_text(basis)})")
        if verdict == neuron_ops.CPU_FALLBACK and state is not None and state.strict:
            raise NeuronOpError(f"'aten::{base}' would fall back to the CPU on the Neuron device (CPU_FALLBACK"
                                f"{': ' + note if note else ''}); strict mode forbids CPU fallback")
        if base not in _MIXED_OK:
            _check_same_device(base, flat)
    cpu_args, cpu_kwargs = tree_map(_unwrap, (args, kwargs))
    if base == "_to_copy":
        target = kwargs.get("device")
        out = func(*cpu_args, **cpu_kwargs)
        if target is None or getattr(target, "type", target) == "neuron" or (
                isinstance(target, str) and target.startswith("neuron")):
            idx = getattr(target, "index", None) if target is not None else index
            return NeuronTensor(out, idx if idx is not None else _current_index())
        return out
    schema = func._schema
    position = None if traced else _generator_position(func, schema)
    if position is not None:  # a random op: draw from the device's own stream unless given a generator
        if position < len(cpu_args):
            if cpu_args[position] is None:
                cpu_args = (*cpu_args[:position], device_generator(index), *cpu_args[position + 1:])
        elif cpu_kwargs.get("generator") is None:
            cpu_kwargs["generator"] = device_generator(index)
    elif torch.Tag.nondeterministic_seeded in func.tags and not traced:
        # A random op with no generator argument (randn_like, native_dropout): it draws from the CPU's
        # default generator, so lend it the device's stream for the call, as a device kernel would use.
        out = _on_device_stream(func, cpu_args, cpu_kwargs, device_generator(index))
        return _wrap_outputs(func, schema, args, kwargs, out, index)
    out = func(*cpu_args, **cpu_kwargs)
    return _wrap_outputs(func, schema, args, kwargs, out, index)


def _on_device_stream(func, args: tuple, kwargs: dict, stream: torch.Generator) -> Any:
    default = torch.default_generator
    own = default.get_state()
    default.set_state(stream.get_state())
    try:
        return func(*args, **kwargs)
    finally:
        stream.set_state(default.get_state())
        default.set_state(own)


_generator_positions: dict[Any, int | None] = {}


def _generator_position(func, schema) -> int | None:
    try:
        return _generator_positions[func]
    except KeyError:
        position = next((i for i, a in enumerate(schema.arguments) if a.name == "generator"), None)
        _generator_positions[func] = position
        return position


def _check_same_device(base: str, flat: list) -> None:
    device = None
    cpu = False
    for item in flat:
        if isinstance(item, NeuronTensor):
            if device is None:
                device = item.device
            elif item.device != device:
                raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                                   f"{device} and {item.device}! (aten::{base})")
        elif isinstance(item, torch.Tensor) and item.dim() > 0 and item.device.type == "cpu":
            cpu = True
    if cpu and device is not None:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{device} and cpu! (aten::{base} got a CPU tensor next to a Neuron tensor)")


_CPU_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CPU)


def _sync_shape(wrapper: NeuronTensor) -> None:
    """An op that resized its output (`out=`, `resize_`, `torch.arange(..., device=...)`, which fills an
    empty tensor) resized the CPU tensor inside: give the wrapper the same shape and strides, which
    only the C++ side can set (the CPU kernels of resize_ and as_strided_, below the Python key)."""
    data = wrapper._data
    if wrapper.shape == data.shape and wrapper.stride() == data.stride():
        return
    with torch._C._DisableTorchDispatch():
        if wrapper.shape != data.shape:
            torch.ops.aten.resize_.default.redispatch(_CPU_KEYS, wrapper, data.shape)
        if wrapper.stride() != data.stride():
            try:
                torch.ops.aten.as_strided_.default.redispatch(_CPU_KEYS, wrapper, data.shape, data.stride(),
                                                              wrapper.storage_offset())
            except RuntimeError:
                pass  # strides beyond the wrapper's own (empty) storage: the shape is what callers read


def _unwrap(x: Any) -> Any:
    if isinstance(x, NeuronTensor):
        return x._data
    if isinstance(x, torch.device) and x.type == "neuron":
        return torch.device("cpu")
    if isinstance(x, torch.Tensor) and x.device.type == "neuron":
        # A device tensor that is no wrapper: one Dynamo's fake tensor mode made while it traced a
        # compiled region (`torch.arange(n, device=x.device)`). Next to the CPU tensors inside the
        # wrappers it stands for their CPU counterpart (a fake one: only shapes are computed).
        return x.to("cpu")
    return x


def _wrap_outputs(func, schema, args, kwargs, out, index: int) -> Any:
    # In-place and out= ops return their (mutated) input: hand back the caller's own tensor object.
    returns = schema.returns
    if returns and any(r.alias_info is not None and r.alias_info.is_write for r in returns):
        mutated = [a for a, arg in zip(args, schema.arguments, strict=False)
                   if arg.alias_info is not None and arg.alias_info.is_write]
        mutated += [kwargs[arg.name] for arg in schema.arguments
                    if arg.alias_info is not None and arg.alias_info.is_write and arg.name in kwargs]
        for tensor in mutated:
            if isinstance(tensor, NeuronTensor):
                _sync_shape(tensor)
        if len(returns) == 1 and mutated:
            return mutated[0]
        if mutated and len(mutated) == len(returns):
            return tuple(mutated)

    def wrap(x):
        if isinstance(x, torch.Tensor) and not isinstance(x, NeuronTensor):
            return NeuronTensor(x, index)
        return x

    if returns and returns[0].alias_info is not None and torch.is_inference_mode_enabled():
        # A view shares its base's version counter: it must be an inference tensor exactly when its base is.
        base = next((a for a in args if isinstance(a, NeuronTensor)), None)
        if base is not None and not base.is_inference():
            with torch.inference_mode(False):
                return tree_map(wrap, out)
    return tree_map(wrap, out)


# --------------------------------------------------------------------------------------------- factories

_lib = None


def register_factories() -> None:
    """Factory ops with device="neuron" (no tensor argument to dispatch on) allocate on the CPU and wrap."""
    global _lib, _DEVICE0
    if _lib is not None:
        return
    _DEVICE0 = torch.device("neuron", 0)
    _lib = torch.library.Library("aten", "IMPL")
    for name in ("empty.memory_format", "empty_strided"):
        packet, _, overload = name.partition(".")
        op = getattr(getattr(torch.ops.aten, packet), overload or "default")
        _lib.impl(name, _factory(op), "PrivateUse1")
    # Reached below the Python key (torch.tensor(data, device="neuron") copies in with Python dispatch off).
    _lib.impl("_copy_from", _copy_from, "PrivateUse1")
    _lib.impl("_copy_from_and_resize", _copy_from_and_resize, "PrivateUse1")


def _copy_from(src, dst, non_blocking=False):
    target = dst._data if isinstance(dst, NeuronTensor) else dst
    target.copy_(src._data if isinstance(src, NeuronTensor) else src)
    return dst


def _copy_from_and_resize(src, dst):
    target = dst._data if isinstance(dst, NeuronTensor) else dst
    source = src._data if isinstance(src, NeuronTensor) else src
    target.resize_(source.shape).copy_(source)
    if isinstance(dst, NeuronTensor):
        _sync_shape(dst)
    return dst


def _factory(op):
    def impl(*args, **kwargs):
        device = kwargs.get("device")
        index = getattr(device, "index", None)
        index = _current_index() if index is None else index
        kwargs["device"] = torch.device("cpu")
        pin = kwargs.pop("pin_memory", None)
        del pin  # pinned host memory has no meaning for the device tensor
        return NeuronTensor(op(*args, **kwargs), index)

    return impl


def _current_index() -> int:
    from porter.emulate.neuron_device import device_module

    return device_module.current_device()


def set_state(state) -> None:
    global _state
    _state = state
