"""torch.cuda's device, properties, RNG, memory, stream and NVTX functions for the emulated machine."""

from __future__ import annotations

import contextlib
import functools

import torch

from porter.emulate.cuda import state, streams
from porter.emulate.cuda.patches import Patcher
from porter.emulate.cuda.profiles import DeviceProperties
from porter.emulate.cuda.tensor import UnemulatableError


def logged(call: str, instead: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        state.log(call, instead)
        return fn(*args, **kwargs)

    return wrapper


class device:
    """`with torch.cuda.device(i)`: i becomes the current device (a torch.device, int, str or None)."""

    def __init__(self, device):
        self.idx = -1 if device is None else _index_or_cpu(device)
        self.prev_idx = -1

    def __enter__(self):
        state.log("torch.cuda.device", "the emulated current device changes")
        self.prev_idx = state.current_device()
        if self.idx >= 0:
            state.set_current_device(self.idx)

    def __exit__(self, *exc):
        if self.idx >= 0:
            state.set_current_device(self.prev_idx)
        return False


def _index_or_cpu(d) -> int:
    if isinstance(d, torch.device) and d.type == "cpu" or d == "cpu":
        return -1
    return state.device_index(d)


class device_of(device):
    def __init__(self, obj):
        super().__init__(obj.get_device() if obj.is_cuda else None)


def _props(d=None) -> DeviceProperties:
    return DeviceProperties(state.gpu, state.device_index(d))


def _memory_stats(d=None) -> dict:
    i = state.device_index(d)
    m = state.memory
    alloc, peak = m.allocated.get(i, 0), m.peak.get(i, 0)
    res, peak_res = m.reserved.get(i, 0), m.peak_reserved.get(i, 0)
    stats = {}
    for pool in ("all", "large_pool", "small_pool"):
        share = 1 if pool != "small_pool" else 0
        for name, cur, pk in (("allocated_bytes", alloc, peak), ("reserved_bytes", res, peak_res),
                              ("active_bytes", alloc, peak), ("requested_bytes", alloc, peak)):
            stats[f"{name}.{pool}.current"] = cur * share
            stats[f"{name}.{pool}.peak"] = pk * share
            stats[f"{name}.{pool}.allocated"] = pk * share
            stats[f"{name}.{pool}.freed"] = (pk - cur) * share
    stats["num_alloc_retries"] = 0
    stats["num_ooms"] = 0
    stats["allocation.all.allocated"] = m.num_allocs.get(i, 0)
    return dict(sorted(stats.items()))


def _memory_summary(device=None, abbreviated: bool = False) -> str:
    i = state.device_index(device)
    m = state.memory

    def mib(n):
        return f"{n / 2**20:10.1f} MiB"

    rows = [
        "|===========================================================================|",
        f"|                  PyTorch CUDA memory summary, device ID {i:<18d}|",
        f"|      (porter CUDA emulation, {state.gpu.name:<45s})|",
        "|---------------------------------------------------------------------------|",
        "|        Metric         | Cur Usage  | Peak Usage |",
        f"| Allocated memory      |{mib(m.allocated.get(i, 0))}|{mib(m.peak.get(i, 0))}|",
        f"| Reserved memory       |{mib(m.reserved.get(i, 0))}|{mib(m.peak_reserved.get(i, 0))}|",
        "|===========================================================================|",
    ]
    return "\n".join(rows)


def _nvtx(p: Patcher) -> None:
    nvtx = torch.cuda.nvtx
    depth = [0]

    def range_push(msg):
        state.log("torch.cuda.nvtx.range_push", "no-op (no profiler on the emulated GPU)")
        depth[0] += 1
        return depth[0] - 1

    def range_pop():
        state.log("torch.cuda.nvtx.range_pop", "no-op")
        depth[0] = max(0, depth[0] - 1)
        return depth[0]

    @contextlib.contextmanager
    def nvtx_range(msg, *args, **kwargs):
        state.log("torch.cuda.nvtx.range", "no-op")
        yield

    p.set(nvtx, "range_push", range_push)
    p.set(nvtx, "range_pop", range_pop)
    p.set(nvtx, "range_start", logged("torch.cuda.nvtx.range_start", "no-op", lambda msg: 0))
    p.set(nvtx, "range_end", logged("torch.cuda.nvtx.range_end", "no-op", lambda range_id: None))
    p.set(nvtx, "mark", logged("torch.cuda.nvtx.mark", "no-op", lambda msg: None))
    p.set(nvtx, "range", nvtx_range)


def _raise(feature: str):
    def fail(*args, **kwargs):
        raise UnemulatableError(state.feature_error(feature))

    return fail


class CUDAGraph:
    def __init__(self, *args, **kwargs):
        raise UnemulatableError(state.feature_error("torch.cuda.CUDAGraph (capture and replay of CUDA graphs)"))


def install(p: Patcher) -> None:
    c = torch.cuda
    gpu = state.gpu
    sync = "no-op (CPU kernels finish before they return)"
    fns = {
        "is_available": logged("torch.cuda.is_available", f"True (emulated {gpu.name})", lambda: True),
        "is_initialized": lambda: True,
        "_lazy_init": lambda: None,
        "init": lambda: None,
        "device_count": logged("torch.cuda.device_count", f"{state.device_count} (emulated)",
                               lambda: state.device_count),
        "current_device": logged("torch.cuda.current_device", "the emulated current device", state.current_device),
        "set_device": logged("torch.cuda.set_device", "the emulated current device changes",
                             lambda d: state.set_current_device(state.device_index(d)) if _index_or_cpu(d) >= 0
                             else None),
        "get_device_name": logged("torch.cuda.get_device_name", f"'{gpu.name}' (profile {gpu.key})",
                                  lambda device=None: _props(device).name),
        "get_device_capability": logged("torch.cuda.get_device_capability", f"({gpu.major}, {gpu.minor}) "
                                        f"(profile {gpu.key})", lambda device=None: (gpu.major, gpu.minor)),
        "get_device_properties": logged("torch.cuda.get_device_properties", f"the {gpu.key} profile's figures",
                                        _props),
        "is_bf16_supported": logged("torch.cuda.is_bf16_supported", f"{gpu.bf16} (profile {gpu.key})",
                                    lambda including_emulation=True: gpu.bf16),
        "is_tf32_supported": lambda: gpu.tf32,
        "get_arch_list": lambda: ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
        "get_gencode_flags": lambda: "-gencode compute=compute_80,code=sm_80",
        "can_device_access_peer": lambda device, peer_device: True,
        "synchronize": logged("torch.cuda.synchronize", sync, lambda device=None: None),
        "ipc_collect": lambda: None,
        "is_current_stream_capturing": lambda: False,
        "set_sync_debug_mode": lambda debug_mode: None,
        "get_sync_debug_mode": lambda: 0,
        "_get_device_index": lambda device, optional=False, allow_cpu=False: (
            -1 if allow_cpu and _index_or_cpu(device if device is not None else 0) < 0 else state.device_index(device)),
        "device": device,
        "device_of": device_of,
        "Stream": streams.Stream,
        "ExternalStream": streams.ExternalStream,
        "Event": logged("torch.cuda.Event", "an event timed by the wall clock", streams.Event),
        "current_stream": logged("torch.cuda.current_stream", "the emulated stream (work runs in order)",
                                 streams.current_stream),
        "default_stream": streams.default_stream,
        "set_stream": streams.set_stream,
        "stream": logged("torch.cuda.stream", "runs the block in program order", streams.stream),
        "StreamContext": streams.StreamContext,
        "CUDAGraph": CUDAGraph,
        "graph": _raise("torch.cuda.graph (capture of a CUDA graph)"),
        "make_graphed_callables": _raise("torch.cuda.make_graphed_callables (CUDA graph replay)"),
        "graph_pool_handle": _raise("torch.cuda.graph_pool_handle (CUDA graph memory pools)"),
        "cudart": _raise("torch.cuda.cudart (direct calls into the CUDA runtime)"),
        "caching_allocator_alloc": _raise("torch.cuda.caching_allocator_alloc (a raw device pointer)"),
        "caching_allocator_delete": _raise("torch.cuda.caching_allocator_delete (a raw device pointer)"),
    }
    rng = _rng_functions()
    mem = _memory_functions()
    for name, fn in {**fns, **rng}.items():
        p.set(c, name, fn)
    for name, fn in mem.items():
        p.set(c, name, fn)
        if hasattr(c.memory, name):
            p.set(c.memory, name, fn)
    for name, fn in rng.items():
        if hasattr(c.random, name):
            p.set(c.random, name, fn)
    p.set(c, "default_generators", tuple(state.generator(i) for i in range(state.device_count)))
    if hasattr(c, "jiterator"):
        p.set(c.jiterator, "_create_jit_fn", _raise("torch.cuda.jiterator (CUDA kernels compiled at run time)"))
        p.set(c.jiterator, "_create_multi_output_jit_fn",
              _raise("torch.cuda.jiterator (CUDA kernels compiled at run time)"))
    _nvtx(p)
    _accelerator(p)


def _rng_functions() -> dict:
    def manual_seed(seed):
        state.generator(state.current_device()).manual_seed(int(seed))

    def manual_seed_all(seed):
        for i in range(state.device_count):
            state.generator(i).manual_seed(int(seed))

    def seed():
        state.generator(state.current_device()).seed()

    def seed_all():
        s = state.generator(0).seed()
        for i in range(1, state.device_count):
            state.generator(i).manual_seed(s)

    rng = "the emulated device's generator (a CPU generator: not the GPU's Philox numbers)"
    return {
        "manual_seed": logged("torch.cuda.manual_seed", rng, manual_seed),
        "manual_seed_all": logged("torch.cuda.manual_seed_all", rng, manual_seed_all),
        "seed": seed,
        "seed_all": seed_all,
        "initial_seed": lambda: state.generator(state.current_device()).initial_seed(),
        "get_rng_state": lambda device="cuda": state.generator(state.device_index(device)).get_state(),
        "set_rng_state": lambda new_state, device="cuda": state.generator(state.device_index(device)).set_state(
            new_state),
        "get_rng_state_all": lambda: [state.generator(i).get_state() for i in range(state.device_count)],
        "set_rng_state_all": lambda states: [state.generator(i).set_state(s) for i, s in enumerate(states)],
    }


def _memory_functions() -> dict:
    m = state.memory
    live = "bytes of live emulated CUDA tensors"

    def reset_peak(device=None):
        m.reset_peak(state.device_index(device))

    return {
        "memory_allocated": logged("torch.cuda.memory_allocated", live,
                                   lambda device=None: m.allocated.get(state.device_index(device), 0)),
        "max_memory_allocated": logged("torch.cuda.max_memory_allocated", f"peak {live}",
                                       lambda device=None: m.peak.get(state.device_index(device), 0)),
        "memory_reserved": logged("torch.cuda.memory_reserved", f"{live}, in 2 MiB segments, kept until empty_cache",
                                  lambda device=None: m.reserved.get(state.device_index(device), 0)),
        "max_memory_reserved": logged("torch.cuda.max_memory_reserved", "peak of memory_reserved",
                                      lambda device=None: m.peak_reserved.get(state.device_index(device), 0)),
        "memory_cached": lambda device=None: m.reserved.get(state.device_index(device), 0),
        "max_memory_cached": lambda device=None: m.peak_reserved.get(state.device_index(device), 0),
        "reset_peak_memory_stats": logged("torch.cuda.reset_peak_memory_stats", "the emulated peaks restart",
                                          reset_peak),
        "reset_max_memory_allocated": reset_peak,
        "reset_max_memory_cached": reset_peak,
        "reset_accumulated_memory_stats": lambda device=None: None,
        "memory_stats": logged("torch.cuda.memory_stats", f"{live} in the allocator's keys", _memory_stats),
        "memory_stats_as_nested_dict": _memory_stats,
        "memory_summary": logged("torch.cuda.memory_summary", f"a table of {live}", _memory_summary),
        "mem_get_info": logged("torch.cuda.mem_get_info", "profile memory minus live emulated tensors",
                               lambda device=None: (state.gpu.total_memory - m.allocated.get(
                                   state.device_index(device), 0), state.gpu.total_memory)),
        "memory_snapshot": lambda *a, **k: [],
        "_record_memory_history": lambda *a, **k: None,
        "empty_cache": logged("torch.cuda.empty_cache", "the emulated reserve shrinks to live tensors",
                              m.empty_cache),
        "set_per_process_memory_fraction": lambda fraction, device=None: None,
        "get_per_process_memory_fraction": lambda device=None: 1.0,
        "get_allocator_backend": lambda: "native",
        "list_gpu_processes": lambda device=None: "no processes are running (emulated GPU)",
        "utilization": lambda device=None: 0,
        "memory_usage": lambda device=None: 0,
        "temperature": lambda device=None: 0,
        "power_draw": lambda device=None: 0,
        "clock_rate": lambda device=None: 0,
    }


def _accelerator(p: Patcher) -> None:
    acc = torch.accelerator
    cuda = torch.device("cuda")
    p.set(acc, "is_available", lambda: True)
    p.set(acc, "device_count", lambda: state.device_count)
    p.set(acc, "current_accelerator", lambda check_available=False: cuda)
    p.set(acc, "current_device_index", state.current_device)
    p.set(acc, "current_device_idx", state.current_device)
    p.set(acc, "set_device_index", lambda d: state.set_current_device(state.device_index(d)))
    p.set(acc, "set_device_idx", lambda d: state.set_current_device(state.device_index(d)))
    p.set(acc, "current_stream", lambda device=None: streams.current_stream(device))
    p.set(acc, "set_stream", streams.set_stream)
    p.set(acc, "synchronize", lambda device=None: None)
