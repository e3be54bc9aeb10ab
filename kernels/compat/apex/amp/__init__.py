"""Shim for ``apex.amp``: apex's mixed precision becomes ``torch.autocast`` in bfloat16, Neuron's native type.

* ``initialize(models, optimizers=None, enabled=True, opt_level="O1", ...)``: for opt levels O1, O2 and O3 each
  model's ``forward`` runs under ``torch.autocast(device_type=<the model's device>, dtype=torch.bfloat16)``
  (the same patching of ``forward`` apex O2 does; parameters stay fp32, so the optimizer keeps fp32 master
  weights as in O1/O2). O0, or ``enabled=False``, leaves the models alone. ``cast_model_outputs`` casts the
  floating outputs as apex does. Returns ``models`` (or ``(models, optimizers)``), the same objects.
  fp16 becomes bf16 here, as porter does for ``torch.cuda.amp``; apex's O3 (pure fp16, no master weights) is
  served by the same autocast. ``cast_model_type``, ``keep_batchnorm_fp32``, ``master_weights`` and the
  loss-scale options have nothing to set under bf16 autocast and are accepted and ignored.
* ``scale_loss(loss, optimizers, ...)`` yields ``loss`` itself: bf16 has fp32's exponent range, so no loss
  scaling is needed and ``with amp.scale_loss(loss, opt) as scaled: scaled.backward()`` is ``loss.backward()``.
* ``master_params(optimizer)`` yields the optimizer's parameters (they are the fp32 master weights);
  ``state_dict()`` / ``load_state_dict()`` carry no loss-scaler state; ``half_function`` / ``float_function``
  / ``promote_function`` and ``register_*`` are identities (autocast's own op lists decide the casts).
"""

from __future__ import annotations

import contextlib
import functools
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


def _autocast_forward(model: torch.nn.Module, output_dtype: torch.dtype | None) -> None:
    forward = model.forward
    if getattr(forward, "_porter_amp", False):
        return  # initialized twice: one autocast is enough

    @functools.wraps(forward)
    def autocast_forward(*args, **kwargs):
        with torch.autocast(device_type=_device_type(model), dtype=AUTOCAST_DTYPE):
            output = forward(*args, **kwargs)
        return output if output_dtype is None else _cast_floating(output, output_dtype)

    autocast_forward._porter_amp = True
    model.forward = autocast_forward


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
