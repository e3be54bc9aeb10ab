"""Code porter adds to a ported file: one small device-selection function per target.

Ported programs must still run where no accelerator exists (parity checks and local development
run on CPU), so every helper falls back to the CPU. The helper is added once per file, after the
imports, and recognised by name on later runs so a second port adds nothing.
"""

from __future__ import annotations

DEVICE_HELPER = "_porter_device"

_NEURON = '''
def _porter_device(index=None):
    """The Neuron device when one is present, else the CPU. Added by porter."""
    if getattr(torch, "neuron", None) is not None and torch.neuron.is_available():
        return torch.device("neuron") if index is None else torch.device("neuron", index)
    return torch.device("cpu")
'''

_PORTABLE = '''
def _porter_device(index=None):
    """The current accelerator (Neuron, CUDA, ...) when one is present, else the CPU. Added by porter."""
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    if accelerator is None:
        return torch.device("cpu")
    return accelerator if index is None else torch.device(accelerator.type, index)
'''

_XLA = '''
def _porter_device(index=None):
    """The XLA device of a NeuronCore when torch_xla is installed, else the CPU. Added by porter."""
    try:
        import torch_xla
    except ImportError:
        return torch.device("cpu")
    return torch_xla.device() if index is None else torch_xla.device(index)
'''

DEVICE_HELPERS = {"neuron": _NEURON, "portable": _PORTABLE, "xla": _XLA}

# The torch-xla idioms (neuron-facts 3.1): each falls back to plain PyTorch without torch_xla, so
# an xla-ported program still runs on a CPU. Added only to files whose fixes call them.
_XLA_SYNC = '''
def _porter_sync():
    """Ends the lazy XLA step (torch_xla.sync()); nothing to do without torch_xla. Added by porter."""
    try:
        import torch_xla
    except ImportError:
        return
    torch_xla.sync()
'''

_XLA_OPTIMIZER_STEP = '''
def _porter_optimizer_step(optimizer):
    """xm.optimizer_step: all-reduce gradients across replicas, then step. Added by porter."""
    try:
        import torch_xla.core.xla_model as xm
    except ImportError:
        return optimizer.step()
    return xm.optimizer_step(optimizer)
'''

_XLA_SAVE = '''
def _porter_save(obj, f, *args, **kwargs):
    """xm.save: moves XLA tensors to the CPU and writes from the master ordinal only. Added by porter."""
    try:
        import torch_xla.core.xla_model as xm
    except ImportError:
        return torch.save(obj, f, *args, **kwargs)
    return xm.save(obj, f)
'''

_XLA_LOADER = '''
def _porter_loader(loader):
    """Wraps a DataLoader in MpDeviceLoader (background transfer, a step boundary per batch). Added by porter."""
    try:
        import torch_xla.distributed.parallel_loader as pl
    except ImportError:
        return loader
    return pl.MpDeviceLoader(loader, _porter_device())
'''

_XLA_BACKEND = '''
def _porter_process_group_backend():
    """"xla", with its backend registered, under torch_xla; gloo on a CPU. Added by porter."""
    try:
        import torch_xla.distributed.xla_backend  # noqa: F401 - registers the "xla" backend
    except ImportError:
        return "gloo"
    return "xla"
'''

# Extra helpers by name; a rule's code template names them. Order is the order they are added in.
EXTRA_HELPERS: dict[str, str] = {
    "_porter_sync": _XLA_SYNC,
    "_porter_optimizer_step": _XLA_OPTIMIZER_STEP,
    "_porter_save": _XLA_SAVE,
    "_porter_loader": _XLA_LOADER,
    "_porter_process_group_backend": _XLA_BACKEND,
}
# Helpers that call the device helper, which must then be added too.
USES_DEVICE_HELPER = {"_porter_loader"}


def extra_helper_source(name: str, torch_alias: str = "torch") -> str:
    source = EXTRA_HELPERS[name].lstrip("\n")
    if torch_alias != "torch":
        source = source.replace("torch.save(", f"{torch_alias}.save(")
    return source


def device_helper_source(target: str, torch_alias: str = "torch") -> str:
    source = DEVICE_HELPERS[target].lstrip("\n")
    if torch_alias != "torch":
        source = source.replace("torch.device(", f"{torch_alias}.device(").replace(
            "torch.neuron", f"{torch_alias}.neuron").replace("(torch, ", f"({torch_alias}, ").replace(
            "torch.accelerator", f"{torch_alias}.accelerator")
    return source
