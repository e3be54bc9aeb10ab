"""Shim for ``apex.optimizers.FusedLAMB``: apex's LAMB update in plain PyTorch.

``FusedLAMB(params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01,
amsgrad=False, adam_w_mode=True, grad_averaging=True, set_grad_none=True, max_grad_norm=1.0, use_nvlamb=False)``.
Each ``step()``:

1. global gradient norm ``G`` over every parameter with a gradient; gradients are divided by
   ``G / max_grad_norm`` when ``G > max_grad_norm`` (no clipping when ``max_grad_norm`` is 0 / None);
2. per parameter (fp32): with ``adam_w_mode=False`` the gradient gets ``+ weight_decay * p`` (L2);
   ``m = beta1 * m + beta3 * g`` (``beta3 = 1 - beta1`` with ``grad_averaging``, else 1),
   ``v = beta2 * v + (1 - beta2) * g * g``; ``update = m_hat / (sqrt(v_hat) + eps)`` (bias-corrected when
   ``bias_correction``), ``+ weight_decay * p`` with ``adam_w_mode=True``;
3. trust ratio: ``p -= lr * (|p| / |update|) * update`` when ``weight_decay != 0`` or ``use_nvlamb`` and both
   norms are non-zero, else ``p -= lr * update``.

State as apex: ``group["step"]``, ``exp_avg`` / ``exp_avg_sq`` per parameter. ``amsgrad=True`` raises
:class:`~porter.kernels.compat.UnsupportedArgumentError` (apex does not implement it either).
"""

from __future__ import annotations

import torch

from ..._util import unsupported

__all__ = ["FusedLAMB"]

_API = "apex.optimizers.FusedLAMB"


class FusedLAMB(torch.optim.Optimizer):
    """``apex.optimizers.FusedLAMB`` (see the module docstring)."""

    def __init__(self, params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01,
                 amsgrad=False, adam_w_mode=True, grad_averaging=True, set_grad_none=True, max_grad_norm=1.0,
                 use_nvlamb=False):
        if amsgrad:
            raise unsupported(_API, "amsgrad", amsgrad, "apex's FusedLAMB does not implement AMSGrad either")
        defaults = dict(lr=lr, bias_correction=bias_correction, betas=betas, eps=eps, weight_decay=weight_decay,
                        grad_averaging=grad_averaging, max_grad_norm=max_grad_norm)
        super().__init__(params, defaults)
        self.adam_w_mode = 1 if adam_w_mode else 0
        self.set_grad_none = set_grad_none
        self.use_nvlamb = use_nvlamb

    def zero_grad(self, set_to_none: bool | None = None):
        super().zero_grad(set_to_none=self.set_grad_none if set_to_none is None else set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        for g in grads:
            if g.is_sparse:
                raise RuntimeError("FusedLAMB does not support sparse gradients, please consider SparseAdam instead")
        if not grads:
            return loss
        global_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
        max_grad_norm = self.defaults["max_grad_norm"]
        if max_grad_norm:
            clip = torch.where(global_norm > max_grad_norm, global_norm / max_grad_norm,
                               torch.ones_like(global_norm))
        else:
            clip = torch.ones_like(global_norm)
        for group in self.param_groups:
            group["step"] = group.get("step", 0) + 1
            step = group["step"]
            beta1, beta2 = group["betas"]
            beta3 = 1.0 - beta1 if group["grad_averaging"] else 1.0
            if group["bias_correction"]:
                correction1, correction2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
            else:
                correction1 = correction2 = 1.0
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                param = p.float()
                grad = p.grad.float() / clip
                if not self.adam_w_mode and decay != 0:
                    grad = grad + decay * param
                exp_avg.mul_(beta1).add_(grad, alpha=beta3)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                update = (exp_avg / correction1) / ((exp_avg_sq / correction2).sqrt() + eps)
                if self.adam_w_mode and decay != 0:
                    update = update + decay * param
                if self.use_nvlamb or decay != 0:
                    param_norm = torch.linalg.vector_norm(param)
                    update_norm = torch.linalg.vector_norm(update)
                    ratio = torch.where((param_norm != 0) & (update_norm != 0),
                                        lr * param_norm / update_norm, torch.full_like(param_norm, lr))
                else:
                    ratio = lr
                p.copy_(param - ratio * update)
        return loss
