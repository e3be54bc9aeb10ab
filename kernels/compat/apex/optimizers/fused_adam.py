"""Shim for ``apex.optimizers.FusedAdam``: apex's Adam / AdamW update in plain PyTorch.

``FusedAdam(params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-8, adam_w_mode=True,
weight_decay=0.0, amsgrad=False, set_grad_none=True, capturable=False, master_weights=False)``:

* ``adam_w_mode=True`` (default): decoupled weight decay, as ``torch.optim.AdamW``:
  ``p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)``;
* ``adam_w_mode=False``: L2 regularisation, as ``torch.optim.Adam``: the gradient becomes
  ``g + weight_decay * p`` before the moments;
* ``bias_correction=False`` uses the raw moments (m_hat = m, v_hat = v), which ``torch.optim`` cannot express;
* state: ``group["step"]`` per parameter group, ``exp_avg`` / ``exp_avg_sq`` (fp32) per parameter, as in apex,
  so apex optimizer checkpoints load. The update is computed in fp32 and written back in the parameter's dtype.
* ``zero_grad()`` sets gradients to None when ``set_grad_none`` (apex's default).

``amsgrad=True`` (unsupported by apex too) and ``master_weights=True`` raise
:class:`~porter.kernels.compat.UnsupportedArgumentError`. ``capturable`` (CUDA graphs) has no effect.
"""

from __future__ import annotations

import torch

from ..._util import unsupported

__all__ = ["FusedAdam"]

_API = "apex.optimizers.FusedAdam"


class FusedAdam(torch.optim.Optimizer):
    """``apex.optimizers.FusedAdam`` (see the module docstring)."""

    def __init__(self, params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-8, adam_w_mode=True,
                 weight_decay=0.0, amsgrad=False, set_grad_none=True, capturable=False, master_weights=False):
        if amsgrad:
            raise unsupported(_API, "amsgrad", amsgrad, "apex's FusedAdam does not implement AMSGrad either")
        if master_weights:
            raise unsupported(_API, "master_weights", master_weights,
                              "keep fp32 parameters and use torch.autocast for mixed precision")
        defaults = dict(lr=lr, bias_correction=bias_correction, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)
        self.adam_w_mode = 1 if adam_w_mode else 0
        self.set_grad_none = set_grad_none
        self.capturable = capturable

    def zero_grad(self, set_to_none: bool | None = None):
        super().zero_grad(set_to_none=self.set_grad_none if set_to_none is None else set_to_none)

    @torch.no_grad()
    def step(self, closure=None, grads=None, output_params=None, scale=None, grad_norms=None, grad_scaler=None):
        if any(a is not None for a in (grads, output_params, scale, grad_norms)):
            raise RuntimeError("FusedAdam has been updated.  Simply initialize it identically to torch.optim.Adam, "
                               "and call step() with no arguments.")
        if grad_scaler is not None:
            raise unsupported(_API + ".step", "grad_scaler", type(grad_scaler).__name__,
                              "call grad_scaler.step(optimizer) instead")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["step"] = group.get("step", 0) + 1
            step = group["step"]
            beta1, beta2 = group["betas"]
            if group["bias_correction"]:
                correction1, correction2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
            else:
                correction1 = correction2 = 1.0
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("FusedAdam does not support sparse gradients, please consider SparseAdam "
                                       "instead")
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                grad = p.grad.float()
                param = p.float()
                if not self.adam_w_mode and decay != 0:
                    grad = grad + decay * param
                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = (exp_avg_sq / correction2).sqrt_().add_(eps)
                update = (exp_avg / correction1) / denom
                if self.adam_w_mode and decay != 0:
                    update = update + decay * param
                p.copy_(param - lr * update)
        return loss
