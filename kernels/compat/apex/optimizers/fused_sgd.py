"""Shim for ``apex.optimizers.FusedSGD``: ``torch.optim.SGD`` with apex's constructor.

``FusedSGD(params, lr=<required>, momentum=0, dampening=0, weight_decay=0, nesterov=False,
wd_after_momentum=False, materialize_master_grads=True, set_grad_none=False)``: with ``wd_after_momentum=False``
(the default) apex's update is exactly ``torch.optim.SGD``'s (weight decay folded into the gradient, momentum
buffer ``momentum_buffer`` started from the first gradient, optional Nesterov). ``zero_grad()`` zeroes the
gradients unless ``set_grad_none`` (apex's default False). ``materialize_master_grads`` only concerns apex.amp
master weights and has no effect.

``wd_after_momentum=True`` raises :class:`~porter.kernels.compat.UnsupportedArgumentError`.
"""

from __future__ import annotations

import torch

from ..._util import unsupported

__all__ = ["FusedSGD"]

_API = "apex.optimizers.FusedSGD"


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class FusedSGD(torch.optim.SGD):
    """``apex.optimizers.FusedSGD`` (see the module docstring)."""

    def __init__(self, params, lr=required, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 wd_after_momentum=False, materialize_master_grads=True, set_grad_none=False):
        if lr is required:
            raise ValueError(f"{_API}: lr is required")
        if wd_after_momentum:
            raise unsupported(_API, "wd_after_momentum", wd_after_momentum,
                              "torch.optim.SGD applies weight decay before momentum")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov)
        self.wd_after_momentum = wd_after_momentum
        self.materialize_master_grads = materialize_master_grads
        self.set_grad_none = set_grad_none

    def zero_grad(self, set_to_none: bool | None = None):
        super().zero_grad(set_to_none=self.set_grad_none if set_to_none is None else set_to_none)
