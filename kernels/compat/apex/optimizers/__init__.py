"""Shim for ``apex.optimizers``: FusedAdam, FusedSGD and FusedLAMB as pure-PyTorch optimizers with apex's
constructor arguments, update rules and state layout (the Neuron compiler fuses the element-wise updates)."""

from .fused_adam import FusedAdam
from .fused_lamb import FusedLAMB
from .fused_sgd import FusedSGD

__all__ = ["FusedAdam", "FusedLAMB", "FusedSGD"]
