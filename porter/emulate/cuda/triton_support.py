"""Triton kernels on the emulated GPU: Triton's interpreter (TRITON_INTERPRET=1) runs them on the CPU.

Kernels decorated while the emulation is active are interpreted; the interpreter copies the
emulated tensors' CPU memory in and out. Launch helpers that ask the driver (SM count, current
device and stream, the autotuner's benchmarker) get an emulated driver answering from the GPU
profile; the autotuner times each config by the wall clock.
"""

from __future__ import annotations

import os
import sys
import time

from porter.emulate.cuda import state

_PREVIOUS: dict[str, str | None] = {}


def set_interpret_env() -> None:
    _PREVIOUS["TRITON_INTERPRET"] = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"


def restore_env() -> None:
    if "TRITON_INTERPRET" in _PREVIOUS:
        old = _PREVIOUS.pop("TRITON_INTERPRET")
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old


def _bench(fn, warmup=1, rep=3, grad_to_none=None, quantiles=None, return_mode="mean", **kwargs):
    fn()  # the interpreter is slow: one warm-up, a few timed runs
    times = []
    for _ in range(max(1, min(int(rep) if rep else 3, 3))):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    if quantiles:
        return [times[min(len(times) - 1, int(q * len(times)))] for q in quantiles]
    return sum(times) / len(times)


class _Utils:
    def get_device_properties(self, device: int = 0) -> dict:
        g = state.gpu
        return {"max_shared_mem": g.shared_memory_per_block_optin, "max_num_regs": g.regs_per_multiprocessor,
                "multiprocessor_count": g.multi_processor_count, "warpSize": g.warp_size,
                "sm_clock_rate": 1_410_000, "mem_clock_rate": 1_593_000, "mem_bus_width": 5120}


class EmulatedDriver:
    """What `triton.runtime.driver.active` answers under CUDA emulation."""

    def __init__(self):
        from triton.backends.compiler import GPUTarget

        self.utils = _Utils()
        self.target = GPUTarget("cuda", state.gpu.major * 10 + state.gpu.minor, state.gpu.warp_size)

    @staticmethod
    def is_active() -> bool:
        return True

    def get_current_target(self):
        return self.target

    def get_active_torch_device(self):
        import torch

        return torch.device("cuda", state.current_device())

    def get_device_interface(self):
        import torch

        return torch.cuda

    def get_current_device(self) -> int:
        return state.current_device()

    def set_current_device(self, device: int) -> None:
        state.set_current_device(device)

    def get_current_stream(self, device: int | None = None) -> int:
        return 0

    def get_benchmarker(self):
        return _bench

    def get_empty_cache_for_benchmark(self):
        import torch

        return torch.empty(1024, dtype=torch.int8, device="cuda")

    def clear_cache(self, cache) -> None:
        cache.zero_()

    def map_python_to_cpp_type(self, ty: str) -> str:
        return ty


def _function_from_source(fn, src: str):
    """The kernel `src` defines, as a Python function whose source `inspect` can read (the
    interpreter rewrites the kernel from its source): registered in linecache under a name of its own."""
    import linecache

    _SOURCES[0] += 1
    filename = f"<porter-triton-kernel-{_SOURCES[0]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(keepends=True), filename)
    namespace: dict = {}
    exec(compile(src, filename, "exec"), fn.__globals__, namespace)
    return namespace[fn.__name__]


_SOURCES = [0]


def _own_source(fn) -> str | None:
    """The kernel's source from its `def` on, as JITFunction keeps it (None when not readable)."""
    import inspect
    import re
    import textwrap

    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    start = re.search(r"^def\s+\w+\s*\(", src, re.MULTILINE)
    return src[start.start():] if start else src


def _interpreted_run(original):
    """`JITFunction.run` under emulation. `@triton.jit` gives the interpreter's function while
    TRITON_INTERPRET is set, but a program may build `triton.JITFunction(fn)` itself and edit its
    source (`_unsafe_update_src`, whisper's median filter): that one would go to the compiler and
    the GPU launcher. It runs in the interpreter too, from its current source."""
    from triton.runtime.interpreter import InterpretedFunction

    def run(self, *args, grid, warmup, **kwargs):
        src = self.src
        cached = self.__dict__.get("_porter_interpreted")
        if cached is None or cached[0] != src:
            fn = self.fn if src == _own_source(self.fn) else _function_from_source(self.fn, src)
            cached = (src, InterpretedFunction(fn))
            self.__dict__["_porter_interpreted"] = cached
        return cached[1].run(*args, grid=grid, warmup=warmup, **kwargs)

    run.porter_original = original
    return run


class TritonHook:
    """Installs the emulated driver in triton, now if imported, else right after its import."""

    def __init__(self):
        self.saved = None

    def apply(self) -> None:
        triton = sys.modules.get("triton")
        if triton is None or self.saved is not None:
            return
        from triton.runtime import driver, interpreter

        from porter.emulate.cuda.tensor import CudaTensor

        self.saved = driver._active
        driver.set_active(EmulatedDriver())
        original = interpreter._unwrap_tensor

        def unwrap(t):
            # the interpreter copies a tensor's storage to the host and back: an emulated tensor's is its CPU one
            t = original(t)
            return t.elem if isinstance(t, CudaTensor) else t

        self.saved_unwrap = original
        interpreter._unwrap_tensor = unwrap
        convert = interpreter._implicit_cvt

        def implicit_cvt(arg):
            # a GPU launch passes a Python float as an fp32 scalar (so `eps.to(tl.float32)` works in the kernel);
            # the interpreter passed it on as a Python float
            if isinstance(arg, float):
                import numpy as np
                import triton.language as tl

                return tl.tensor(interpreter.TensorHandle(np.array([arg], dtype=np.float32), tl.float32), tl.float32)
            return convert(arg)

        self.saved_cvt = convert
        interpreter._implicit_cvt = implicit_cvt
        from triton.runtime.jit import JITFunction

        self.saved_run = JITFunction.run
        JITFunction.run = _interpreted_run(JITFunction.run)

    def undo(self) -> None:
        if self.saved is not None:
            from triton.runtime import driver, interpreter

            driver._active = self.saved
            interpreter._unwrap_tensor = self.saved_unwrap
            interpreter._implicit_cvt = self.saved_cvt
            from triton.runtime.jit import JITFunction

            JITFunction.run = self.saved_run
            self.saved = None
