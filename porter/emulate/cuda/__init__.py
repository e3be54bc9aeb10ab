"""CUDA emulated on a CPU: original CUDA programs run unchanged, as the parity reference.

    with porter.emulate.cuda(profile="a100", log="cuda-calls.log"):
        model = Model().cuda()          # tensors report device cuda:0, data in CPU memory
    porter run --device cuda -- python train.py

Each process can hold one emulation; `activate_from_env()` starts it from `porter run`'s
environment variables. What a program can still tell apart from a GPU: docs/cuda-emulation.md.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import types
from collections.abc import Iterator

from porter.emulate.cuda.profiles import PROFILES, GpuProfile, profile

__all__ = ["PROFILES", "GpuProfile", "activate", "activate_from_env", "cuda", "deactivate", "is_active", "profile",
           "to_cpu"]

_session = None


class _Session:
    def __init__(self, profile_key: str, devices: int, log: str | None, fused: bool):
        import torch  # noqa: F401  (torch must be importable before anything is patched)

        from porter.emulate.cuda import _native, api_device, api_dist, api_torch, factories, fused_hooks, state
        from porter.emulate.cuda import tensor as _tensor  # noqa: F401  (sets state.memory)
        from porter.emulate.cuda.patches import Patcher

        state.configure(profile_key, devices, log)
        _native.install()
        self.state = state
        self.patcher = Patcher()
        self.factories = factories.Factories()
        try:
            self.factories.install()
            api_device.install(self.patcher)
            api_torch.install(self.patcher)
            api_dist.install(self.patcher)
            state.set_current_device(0)
            # Backward runs on the calling thread, as CPU autograd does: autograd sizes its per-device worker
            # queues at the process's first backward, which may have run before the emulation existed.
            self._multithreading = torch._C._is_multithreading_enabled()
            torch._C._set_multithreading_enabled(False)
            self.hooks = fused_hooks.install() if fused else None
            self._default_device = torch.get_default_device()
            self._default_dtype = torch.get_default_dtype()
        except BaseException:
            self.close(write_log=False)
            raise
        state.active = True

    def close(self, write_log: bool = True) -> None:
        import torch

        from porter.emulate.cuda import _native, fused_hooks

        if getattr(self, "hooks", None) is not None:
            fused_hooks.uninstall(self.hooks)
        if hasattr(self, "_multithreading"):
            torch._C._set_multithreading_enabled(self._multithreading)
        if hasattr(self, "_default_device"):
            torch.set_default_device(None if self._default_device.type == "cpu" else self._default_device)
            torch.set_default_dtype(self._default_dtype)
        self.patcher.restore()
        self.factories.uninstall()
        _native.uninstall()
        self.state.active = False
        if write_log:
            self.state.calls.write()


def activate(profile: str = "a100", log: str | os.PathLike | None = None, devices: int = 1,
             fused: bool = True) -> None:
    """Start emulating for the rest of the process (what `porter run --device cuda` does)."""
    global _session
    if _session is not None:
        raise RuntimeError("CUDA emulation is already active in this process")
    _session = _Session(profile, devices, os.fspath(log) if log else None, fused)


def deactivate() -> None:
    global _session
    if _session is not None:
        session, _session = _session, None
        session.close()


def is_active() -> bool:
    return _session is not None


def calls():
    """The intercepted-call log of the current (or last) emulation."""
    from porter.emulate.cuda import state

    return state.calls


@contextlib.contextmanager
def cuda(profile: str = "a100", log: str | os.PathLike | None = None, devices: int = 1,
         fused: bool = True) -> Iterator[object]:
    """Context manager: inside it the process has `devices` emulated GPUs of the given profile.

    profile: "a100" (default), "h100" or "v100" (figures and sources in porter/emulate/cuda/profiles.py).
    log: file the intercepted-call log is appended to on exit (`calls()` gives it in memory too).
    fused: serve flash_attn, xformers, apex, liger_kernel, mamba_ssm and causal_conv1d imports with
    plain-PyTorch references when those packages are not installed.
    Yields the call log.
    """
    activate(profile, log, devices, fused)
    try:
        yield calls()
    finally:
        deactivate()


def to_cpu(obj):
    """Tensors in a (nested dict/list/tuple) result copied to plain CPU tensors; works after the emulation ended.

    For a parity reference: run the original under `cuda()`, hand `to_cpu(outputs)` to the comparison.
    """
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu() if obj.device.type != "cpu" else obj.detach()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        items = [to_cpu(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj


def activate_from_env(environ: dict | None = None) -> bool:
    """Start emulation if `porter run --device cuda` asked for it; True if it did.

    Reads PORTER_EMULATE_DEVICE (must be "cuda"), PORTER_EMULATE_CUDA_PROFILE, PORTER_EMULATE_CORES
    (number of GPUs) and PORTER_EMULATE_CUDA_LOG; at exit the log is appended to that file and the
    summary printed to stderr.
    """
    from porter.emulate import _env

    env = os.environ if environ is None else environ
    if _env.get(_env.DEVICE, environ=env).strip().lower() != "cuda" or is_active():
        return False
    devices = int(_env.get(_env.CORES, "1", environ=env) or 1)
    log = _env.get(_env.CUDA_LOG, environ=env) or None
    activate(_env.get(_env.CUDA_PROFILE, "a100", environ=env) or "a100", log, devices)
    atexit.register(_at_exit)
    return True


def _at_exit() -> None:
    from porter.emulate.cuda import state

    if _session is not None and state.calls.sites:
        print(state.calls.summary(), file=sys.stderr)
    deactivate()


class _CallableModule(types.ModuleType):
    """`porter.emulate.cuda(...)` is the context manager too (the package attribute is this module)."""

    def __call__(self, *args, **kwargs):
        return cuda(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
