"""torch.distributed with NCCL on the emulated GPU: gloo runs the collectives on the CPU memory."""

from __future__ import annotations

import contextlib
import functools

import torch

from porter.emulate.cuda import state
from porter.emulate.cuda.patches import Patcher
from porter.emulate.cuda.tensor import CudaTensor

_COLLECTIVES = ("all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor", "reduce_scatter",
                "reduce_scatter_tensor", "all_to_all", "all_to_all_single", "gather", "scatter", "send", "recv",
                "isend", "irecv", "all_gather_object", "broadcast_object_list")


def _unwrap(x):
    if isinstance(x, CudaTensor):
        return x.elem
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    return x


def _gloo_backend(backend):
    if backend is None:
        return "gloo"
    b = str(backend).lower()
    if "nccl" in b:
        return "gloo"
    return backend


class DistributedDataParallel:
    """Methods that replace DistributedDataParallel's (the class itself stays: modules imported during the
    emulation, torch._dynamo among them, keep a reference to it). DDP for the emulated GPUs: rank 0's
    parameters broadcast at construction, gradients averaged over the group as each one is accumulated
    (PyTorch's C++ reducer cannot time or bucket emulated tensors).

    Same training semantics as DDP (averaged gradients, `module`, `no_sync()`, "module." state keys);
    the all-reduces are per parameter instead of per bucket.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        torch.nn.Module.__init__(self)
        state.log("DistributedDataParallel", "gradients all-reduced per parameter over gloo")
        dist = torch.distributed
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self.device_ids = device_ids
        self._world = dist.get_world_size(process_group)
        self._src = dist.get_global_rank(process_group, 0) if process_group is not None else 0
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                _ORIGINAL["broadcast"](_unwrap(t), src=self._src, group=process_group)
        for param in module.parameters():
            if param.requires_grad:
                param.register_post_accumulate_grad_hook(self._average)

    def _average(self, param) -> None:
        if self.require_backward_grad_sync and param.grad is not None:
            _ORIGINAL["all_reduce"](_unwrap(param.grad), group=self.process_group)
            param.grad.div_(self._world)

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers:
            with torch.no_grad():
                for b in self.module.buffers():
                    _ORIGINAL["broadcast"](_unwrap(b), src=self._src, group=self.process_group)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous


class DataParallel:
    """Methods that replace nn.DataParallel's: one replica on the first device runs the whole batch.

    Outputs and gradients equal DataParallel's (replicas share weights, the gathered output is the whole
    batch's) except in layers that see the batch split, such as BatchNorm statistics per replica.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        torch.nn.Module.__init__(self)
        state.log("nn.DataParallel", "one replica runs the whole batch on the first emulated GPU")
        self.module = module
        self.device_ids = list(range(state.device_count)) if device_ids is None else [
            state.device_index(d) for d in device_ids]
        self.output_device = self.device_ids[0] if output_device is None else state.device_index(output_device)
        self.dim = dim
        self.src_device_obj = torch.device("cuda", self.device_ids[0])

    def forward(self, *inputs, **kwargs):
        move = functools.partial(_to_device, device=self.src_device_obj)
        out = self.module(*move(inputs), **move(kwargs))
        return _to_device(out, torch.device("cuda", self.output_device))


def _to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_to_device(v, device) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    return obj


_ORIGINAL: dict = {}


def _replace_methods(p: Patcher, real: type, emulated: type) -> None:
    for name, value in vars(emulated).items():
        if callable(value) and not name.startswith("__") or name in ("__init__",):
            p.set(real, name, value)


def install(p: Patcher) -> None:
    if not torch.distributed.is_available():
        _replace_methods(p, torch.nn.DataParallel, DataParallel)
        return
    dist = torch.distributed
    orig_init = dist.init_process_group

    @functools.wraps(orig_init)
    def init_process_group(backend=None, *args, **kwargs):
        new = _gloo_backend(backend)
        if new != backend:
            state.log(f"init_process_group({backend!r})", "gloo (collectives on CPU memory)")
        kwargs.pop("device_id", None)
        return orig_init(new, *args, **kwargs)

    p.set(dist, "init_process_group", init_process_group)
    p.set(dist, "is_nccl_available", lambda: True)
    if hasattr(dist, "distributed_c10d"):
        p.set(dist.distributed_c10d, "init_process_group", init_process_group)
    _ORIGINAL.update(broadcast=dist.broadcast, all_reduce=dist.all_reduce)
    _replace_methods(p, torch.nn.parallel.DistributedDataParallel, DistributedDataParallel)
    _replace_methods(p, torch.nn.DataParallel, DataParallel)
    for name in _COLLECTIVES:
        orig = getattr(dist, name, None)
        if orig is None or "object" in name:
            continue

        def collective(*args, _orig=orig, _name=name, **kwargs):
            args = [_unwrap(a) for a in args]
            kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
            return _orig(*args, **kwargs)

        p.set(dist, name, functools.wraps(orig)(collective))
    orig_barrier = dist.barrier

    def barrier(group=None, async_op=False, device_ids=None):
        return orig_barrier(group=group, async_op=async_op)

    p.set(dist, "barrier", barrier)
