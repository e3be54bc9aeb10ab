"""The emulated Neuron device: `neuron` as PyTorch's PrivateUse1 backend, backed by CPU memory.

`activate()` registers the backend once per process (PyTorch cannot unregister it) and starts
recording; `deactivate()` stops recording and makes `torch.neuron.is_available()` false again.
`emulate()` is the context manager behind `porter.emulate.neuron_device()`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from porter.emulate import _env
from porter.emulate.platforms import platform as _platform

MIN_TORCH = (2, 13)


class EmulationError(RuntimeError):
    """Emulation cannot start here (torch too old, a real Neuron SDK present, backend name taken)."""


_registered = False
_state = None
_multithreading = True


def real_neuron_present() -> str:
    """What real Neuron stack this machine has ("" when none): a Neuron device node or an importable TorchNeuron."""
    devices = sorted(str(p) for p in Path("/dev").glob("neuron[0-9]*"))
    if devices:
        return f"Neuron device {devices[0]}"
    if "torch_neuronx" in sys.modules:
        return "torch_neuronx (imported)"
    import importlib.util

    if importlib.util.find_spec("torch_neuronx") is not None:
        try:
            import torch_neuronx  # noqa: F401  (the PyPI placeholder raises ImportError)
        except Exception:
            return ""
        return "torch_neuronx (the Neuron SDK's PyTorch package)"
    return ""


def check_torch() -> None:
    import torch

    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2] if p.isdigit())
    registration = getattr(torch.utils, "backend_registration", None)
    if version < MIN_TORCH or not hasattr(registration, "_setup_privateuseone_for_python_backend"):
        raise EmulationError(
            f"the emulated neuron device needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]} (for "
            f"torch.utils.backend_registration._setup_privateuseone_for_python_backend); this is torch "
            f"{torch.__version__}")


def _register() -> None:
    global _registered
    if _registered:
        return
    import torch

    check_torch()
    name = torch._C._get_privateuse1_backend_name()
    if name not in ("privateuseone", "neuron"):
        raise EmulationError(f"PyTorch's PrivateUse1 backend is already registered as {name!r} in this process: "
                             f"the neuron device cannot be emulated next to it")
    if name == "neuron":
        raise EmulationError("a `neuron` backend is already registered in this process (a real TorchNeuron?): "
                             "refusing to emulate over it")
    from porter.emulate.neuron_device import autocast, compile_backend, device_module, distributed, patches, tensor

    torch.utils.backend_registration._setup_privateuseone_for_python_backend(
        "neuron", backend_module=_ModuleProxy(device_module), hook=_hooks(device_module))
    tensor.register_factories()
    autocast.register()
    compile_backend.register()
    distributed.register()
    patches.apply()
    _registered = True


def _hooks(device_module):
    import torch

    class NeuronHooks(torch._C._acc.PrivateUse1Hooks):
        """PyTorch asks these whether the device exists: only while emulation is active."""

        def is_available(self) -> bool:
            return device_module.is_available()

        def has_primary_context(self, dev_id) -> bool:
            return device_module.is_available()

        def is_built(self) -> bool:
            return True

    return NeuronHooks()


class _ModuleProxy:
    """torch.neuron: the device module's functions as attributes of one object PyTorch registers."""

    def __init__(self, module) -> None:
        self.__dict__["_module"] = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_module"], name)

    def __dir__(self):
        return dir(self.__dict__["_module"])


def activate(platform: str = "trn2", cores: int = 1, strict: bool = False, force: bool = False):
    """Start emulating in this process; returns the RunState that records the run."""
    global _state
    real = real_neuron_present()
    if real and not force:
        raise EmulationError(f"a real Neuron stack is present ({real}): refusing to emulate the neuron device over "
                             f"it; use it directly, or pass --force (force=True) to emulate anyway")
    chosen = _platform(platform)
    _register()
    from porter.emulate.neuron_device import device_module, kernels, tensor
    from porter.emulate.neuron_device.state import RunState

    global _multithreading
    # Backward runs on the calling thread (the autograd engine's CPU queue): its per-device worker threads
    # are sized when the first backward of the process runs, possibly before the device existed, and they
    # need stream guards a Python-registered device cannot provide.
    import torch

    _multithreading = torch._C._is_multithreading_enabled()
    torch._C._set_multithreading_enabled(False)
    _state = RunState(platform=chosen.name, cores=max(1, int(cores)), strict=bool(strict))
    tensor.set_state(_state)
    device_module.configure(True, cores, chosen)
    kernels.install(_state)
    return _state


def deactivate() -> Any:
    """Stop emulating (the backend stays registered); returns the finished RunState."""
    global _state
    from porter.emulate.neuron_device import device_module, kernels, tensor

    state = _state
    import torch

    torch._C._set_multithreading_enabled(_multithreading)
    device_module.configure(False, 1, None)
    kernels.uninstall()
    tensor.set_state(None)
    _state = None
    return state


def current_state():
    return _state


@contextlib.contextmanager
def emulate(platform: str = "trn2", cores: int = 1, strict: bool = False, report: Any = None,
            force: bool = False) -> Iterator[Any]:
    """`with porter.emulate.neuron_device(): ...` — yields the RunState; writes `report` (a path: .json, .md or
    text) when the block ends, also when it raises."""
    state = activate(platform=platform, cores=cores, strict=strict, force=force)
    try:
        yield state
    finally:
        deactivate()
        if report is not None:
            from porter.emulate.report import RunReport

            RunReport.from_states([state.to_dict()]).write(Path(report))


def activate_from_env() -> Any:
    """Called by porter run's bootstrap in every process of the program."""
    state = activate(platform=_env.get(_env.PLATFORM, "trn2") or "trn2",
                     cores=int(_env.get(_env.CORES, "1") or 1),
                     strict=_env.flag(_env.STRICT), force=_env.flag(_env.FORCE))
    report_dir = _env.get(_env.REPORT_DIR)
    if report_dir:
        import atexit

        atexit.register(_write_part, Path(report_dir))
    return state


def _write_part(report_dir: Path) -> None:
    state = _state
    if state is None:
        return
    import json

    if not report_dir.is_dir():  # porter run has already merged the parts and removed the folder
        return
    part = report_dir / f"{os.getpid()}.json"
    tmp = part.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(state.to_dict()), encoding="utf-8")
        tmp.replace(part)
    except OSError:  # removed while this late process (a worker outliving the program) was exiting
        pass
