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
    if isinstance(index, torch.device):  # already a device: the program's own choice
        return index
    if getattr(torch, "neuron", None) is not None and torch.neuron.is_available():
        return torch.device("neuron") if index is None else torch.device("neuron", index)
    return torch.device("cpu")
'''

_PORTABLE = '''
def _porter_device(index=None):
    """The current accelerator (Neuron, CUDA, ...) when one is present, else the CPU. Added by porter."""
    if isinstance(index, torch.device):  # already a device: the program's own choice
        return index
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    if accelerator is None:
        return torch.device("cpu")
    return accelerator if index is None else torch.device(accelerator.type, index)
'''

# torch_xla.device(index) takes a position in this process's torch_xla.devices() (torch_xla docs:
# "index of the XLA device to be returned. Corresponds to index in `torch_xla.devices()`"; out of
# range raises IndexError). A CUDA script's index is usually LOCAL_RANK, but under torchrun each
# process owns one device, so rank 1 and up would be out of range: such an index selects the
# process's own device.
_XLA = '''
def _porter_device(index=None):
    """The XLA device of this process's NeuronCore when torch_xla is installed, else the CPU. Added by porter.

    A CUDA-style index (often LOCAL_RANK) outside this process's torch_xla.devices() selects the
    process's own device: under torchrun each process owns one.
    """
    if isinstance(index, torch.device):  # already a device: the program's own choice
        return index
    try:
        import torch_xla
    except ImportError:
        return torch.device("cpu")
    if not isinstance(index, int) or not 0 <= index < len(torch_xla.devices()):
        return torch_xla.device()
    return torch_xla.device(index)
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
            "(index, torch.device)", f"(index, {torch_alias}.device)").replace(
            "torch.neuron", f"{torch_alias}.neuron").replace("(torch, ", f"({torch_alias}, ").replace(
            "torch.accelerator", f"{torch_alias}.accelerator")
    return source

# What a guarded import binds when the CUDA-only module is missing (see file_port._guard_import).
# An inert object: everything a module does with a package while it is being imported works on it
# (attribute chains, decorators with or without arguments, `triton.Config(...)` lists, annotations,
# subscripts, subclassing, comparisons, arithmetic, iteration, `len`, `isinstance`, version checks),
# so the file imports. Only calling it from running code, i.e. from inside a function, raises
# ImportError naming the package and the porter rule. It is falsy, so `if flash_attn_func:` picks a
# fallback, and its `__version__` is "0" (older than any real release). Plain Python: no porter at
# run time. Added once per file, before its first guarded import.
MISSING_HELPER = "_PorterMissing"

_MISSING = '''
class _PorterMissing:
    """Stands in for a CUDA-only module that is not installed. Added by porter.

    Module-level uses (attributes, decorators, configs, comparisons, iteration) work, so this file
    imports; calling it from running code raises ImportError.
    """

    __version__ = "0"

    def __init__(self, name, rule, package=None):
        self._name, self._rule = name, rule
        self._package = package or name.lstrip(".").split(".")[0]

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _PorterMissing(f"{self._name}.{attr}", self._rule, self._package)

    def __call__(self, *args, **kwargs):
        import sys

        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_code.co_name in (
                "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"):
            frame = frame.f_back
        if frame.f_code.co_flags & 1:  # CO_OPTIMIZED: called from a function, i.e. at run time
            raise ImportError(
                f"{self._name} needs {self._package!r}, a CUDA-only module that is not installed here "
                f"(porter: {self._rule}; `porter rule {self._rule}` says what to use instead)")
        if len(args) == 1 and not kwargs and isinstance(args[0], _PorterMissing):
            return args[0]  # stacked decorators: the kernel keeps its name
        if len(args) == 1 and not kwargs and hasattr(args[0], "__qualname__"):
            # A decorator at definition time: the decorated kernel stands in, and fails when called.
            return _PorterMissing(args[0].__qualname__, self._rule, self._package)
        return _PorterMissing(f"{self._name}(...)", self._rule, self._package)

    def _same(self, *args):
        return self

    def _false(self, other):
        return False

    # Meta-programming over the package (`[c for c in configs if c.num_warps <= 4]`,
    # `min(cfg.kwargs["BLOCK"] for cfg in kernel.configs)`, `BLOCK * 2`) stays inert.
    __getitem__ = __or__ = __ror__ = __and__ = __rand__ = __xor__ = __rxor__ = _same
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __matmul__ = __rmatmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __pow__ = __rpow__ = __lshift__ = __rlshift__ = __rshift__ = __rrshift__ = _same
    __neg__ = __pos__ = __abs__ = __invert__ = __enter__ = _same
    __lt__ = __le__ = __gt__ = __ge__ = __contains__ = _false
    __instancecheck__ = __subclasscheck__ = _false  # isinstance(x, missing): x is not one of its types

    def __setitem__(self, key, value):
        pass

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        return iter((self,))  # one opaque item, so min()/max()/next() over it work

    def __len__(self):
        return 1

    def __int__(self):
        return 0

    __index__ = __int__

    def __float__(self):
        return 0.0

    def __hash__(self):
        return id(self)

    def __mro_entries__(self, bases):
        missing = self

        class _Base:
            def __init__(self, *args, **kwargs):
                missing()

        return (_Base,)

    def __bool__(self):
        return False

    def __repr__(self):
        return f"<{self._name}: {self._package!r} is not installed (porter: {self._rule})>"
'''


def missing_helper_source() -> str:
    return _MISSING.lstrip("\n")
