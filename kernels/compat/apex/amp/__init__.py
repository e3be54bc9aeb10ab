"""Shim for ``apex.amp``: a no-op façade so apex.amp training loops keep running; ``torch.autocast`` replaces amp.

* ``initialize(models, optimizers=None, enabled=True, opt_level="O1", ...)`` returns ``models`` (or
  ``(models, optimizers)`` when optimizers are given) unchanged: no casting, no patching, no loss scaling. Models
  therefore train in their own dtype (fp32 unless you cast them). For mixed precision on Neuron use
  ``torch.autocast(device_type=..., dtype=torch.bfloat16)`` around the forward pass (bf16 needs no loss scaling).
  A warning says so for opt levels other than "O0".
* ``scale_loss(loss, optimizers, ...)`` is a context manager yielding ``loss`` itself (scale 1), so
  ``with amp.scale_loss(loss, opt) as scaled: scaled.backward()`` is plain ``loss.backward()``.
* ``master_params(optimizer)`` yields the optimizer's parameters (they are the master weights);
  ``state_dict()`` / ``load_state_dict()`` carry no state; ``half_function`` / ``float_function`` /
  ``promote_function`` and ``register_*`` are identities.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

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


def initialize(models, optimizers=None, enabled=True, opt_level="O1", cast_model_type=None,
               patch_torch_functions=None, keep_batchnorm_fp32=None, master_weights=None, loss_scale=None,
               cast_model_outputs=None, num_losses=1, verbosity=1, min_loss_scale=None, max_loss_scale=2.0 ** 24):
    """``apex.amp.initialize``: returns the models (and optimizers) unchanged; see the module docstring."""
    if opt_level not in OPT_LEVELS:
        raise ValueError(f"apex.amp.initialize: unexpected opt_level {opt_level!r}; options are 'O0', 'O1', "
                         "'O2', 'O3'")
    if enabled and opt_level != "O0":
        warnings.warn(f"apex.amp.initialize(opt_level={opt_level!r}) is a no-op under porter: models keep their "
                      "dtype and no loss scaling is applied. Use torch.autocast(..., dtype=torch.bfloat16) for "
                      "mixed precision.", stacklevel=2)
    if optimizers is None:
        return models
    return models, optimizers


@contextlib.contextmanager
def scale_loss(loss, optimizers, loss_id=0, model=None, delay_unscale=False, delay_overflow_check=False):
    """``apex.amp.scale_loss``: yields ``loss`` unscaled (no loss scaling under porter)."""
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
