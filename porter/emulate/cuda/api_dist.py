"""torch.distributed with NCCL on the emulated GPU: gloo runs the collectives on the CPU memory."""

from __future__ import annotations

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


def install(p: Patcher) -> None:
    if not torch.distributed.is_available():
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
