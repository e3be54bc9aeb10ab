"""Shim for ``apex.amp``: apex's mixed precision becomes ``torch.autocast`` in bfloat16, Neuron's native type.

* ``initialize(models, optimizers=None, enabled=True, opt_level="O1", ...)``: for opt levels O1, O2 and O3 each
  model's ``forward`` runs under ``torch.autocast(device_type=<the model's device>, dtype=torch.bfloat16)``
  (the same patching of ``forward`` apex O2 does, by a picklable object: ``torch.save(model)`` and
  ``copy.deepcopy(model)`` work, and a copy runs its own weights). Parameters stay fp32, so the optimizer
  keeps fp32 master weights as in O1/O2, and ``state_dict`` keys are unchanged. O0, or ``enabled=False``,
  leaves the models alone. ``cast_model_outputs`` casts the floating outputs as apex does. Returns ``models``
  (or ``(models, optimizers)``), the same objects. fp16 becomes bf16 here, as porter does for
  ``torch.cuda.amp``; apex's O3 (pure fp16, no master weights) is served by the same autocast.
  ``cast_model_type``, ``keep_batchnorm_fp32``, ``master_weights`` and the loss-scale options have nothing to
  set under bf16 autocast and are accepted and ignored.
* ``scale_loss(loss, optimizers, ...)`` yields ``loss`` itself: bf16 has fp32's exponent range, so no loss
  scaling is needed and ``with amp.scale_loss(loss, opt) as scaled: scaled.backward()`` is ``loss.backward()``.
* ``master_params(optimizer)`` yields the optimizer's parameters (they are the fp32 master weights);
  ``state_dict()`` / ``load_state_dict()`` carry no loss-scaler state; ``half_function`` / ``float_function``
  / ``promote_function`` and ``register_*`` are identities (autocast's own op lists decide the casts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = [
    "float_function",
    "half_function",
    "initialize",
    "load_state_dict",
    "master_params",
    "promote_function",
    "register_float_function",
    "register_half_function",
    "register_promote_function",
    "scale_loss",
    "state_dict",
]

OPT_LEVELS = ("O0", "O1", "O2", "O3")
AUTOCAST_DTYPE = torch.bfloat16


def initialize(models, optimizers=None, enabled=True, opt_level="O1", cast_model_type=None,
               patch_torch_functions=None, keep_batchnorm_fp32=None, master_weights=None, loss_scale=None,
               cast_model_outputs=None, num_losses=1, verbosity=1, min_loss_scale=None, max_loss_scale=2.0 ** 24):
    """``apex.amp.initialize``: runs each model's forward under bf16 ``torch.autocast``; see the module docstring."""
    if opt_level not in OPT_LEVELS:
        raise ValueError(f"apex.amp.initialize: unexpected opt_level {opt_level!r}; options are 'O0', 'O1', "
                         "'O2', 'O3'")
    if enabled and opt_level != "O0":
        for model in models if isinstance(models, (list, tuple)) else [models]:
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"apex.amp.initialize: models must be torch.nn.Module objects, got "
                                f"{type(model).__name__}")
            _autocast_forward(model, cast_model_outputs)
    if optimizers is None:
        return models
    return models, optimizers


class _AutocastForward:
    """A model's ``forward`` under bf16 ``torch.autocast``, set as the instance attribute ``model.forward``.

    A plain object of a module-level class rather than a closure, so the model stays what apex users expect
    of it: ``torch.save(model)`` pickles it (``torch.load`` restores the autocast), and ``copy.deepcopy(model)``
    gives a copy whose forward runs the *copy's* weights — the reference to the module is part of the model's
    own object graph, which both pickle and deepcopy rebuild (the memo maps it to the new module). The
    autocast is a ``with`` block around the call, so an exception in the forward leaves it exited.
    ``state_dict`` keys are unchanged (this is not a module, parameter or buffer).
    """

    _porter_amp = True

    def __init__(self, module: torch.nn.Module, inner, output_dtype: torch.dtype | None) -> None:
        self.module = module
        # A forward already set on the instance (a bound method, a callable), else None: the class's forward.
        self.inner = inner
        self.output_dtype = output_dtype

    @property
    def __wrapped__(self):
        """The forward being wrapped (``inspect.signature(model.forward)`` follows it)."""
        return self.inner if self.inner is not None else type(self.module).forward.__get__(self.module)

    def __call__(self, *args, **kwargs):
        with torch.autocast(device_type=_device_type(self.module), dtype=AUTOCAST_DTYPE):
            output = self.__wrapped__(*args, **kwargs)
        return output if self.output_dtype is None else _cast_floating(output, self.output_dtype)

    def __repr__(self) -> str:
        return f"<apex.amp bf16 autocast forward of {type(self.module).__name__}>"


def _autocast_forward(model: torch.nn.Module, output_dtype: torch.dtype | None) -> None:
    forward = model.forward
    if getattr(forward, "_porter_amp", False):
        return  # initialized twice: one autocast is enough
    inner = vars(model).get("forward")  # a forward set on the instance; None: the class's own
    model.forward = _AutocastForward(model, inner, output_dtype)


def _device_type(model: torch.nn.Module) -> str:
    for tensor in model.parameters():
        return tensor.device.type
    for tensor in model.buffers():
        return tensor.device.type
    return "cpu"


def _cast_floating(value, dtype: torch.dtype):
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(_cast_floating(v, dtype) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_floating(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast_floating(v, dtype) for k, v in value.items()}
    return value


@contextlib.contextmanager
def scale_loss(loss, optimizers, loss_id=0, model=None, delay_unscale=False, delay_overflow_check=False):
    """``apex.amp.scale_loss``: yields ``loss`` unscaled (bf16 needs no loss scaling)."""
    yield loss


def master_params(optimizer) -> Iterator:
    """``apex.amp.master_params``: the optimizer's parameters (no separate fp32 master copies exist)."""
    for group in optimizer.param_groups:
        yield from group["params"]


def state_dict(destination=None) -> dict:
    """``apex.amp.state_dict``: no loss-scaler state to save."""
    return {} if destination is None else destination


def load_state_dict(state_dict) -> None:
    """``apex.amp.load_state_dict``: nothing to restore."""
    return None


def _identity_decorator(fn):
    return fn


half_function = float_function = promote_function = _identity_decorator


def register_half_function(module, name) -> None:
    return None


register_float_function = register_promote_function = register_half_function
