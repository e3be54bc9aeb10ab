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


def device_helper_source(target: str, torch_alias: str = "torch") -> str:
    source = DEVICE_HELPERS[target].lstrip("\n")
    if torch_alias != "torch":
        source = source.replace("torch.device(", f"{torch_alias}.device(").replace(
            "torch.neuron", f"{torch_alias}.neuron").replace("(torch, ", f"({torch_alias}, ").replace(
            "torch.accelerator", f"{torch_alias}.accelerator")
    return source
