"""Shim for ``mamba_ssm``: the selective-scan functions on porter's SSM kernels (``porter.kernels.ssm``).

Only the functional ops are provided (``mamba_ssm.ops.selective_scan_interface`` and
``mamba_ssm.ops.triton.selective_state_update``); ``mamba_ssm.Mamba`` and the model classes are not (the port keeps
their imports guarded by NRN407).
"""

from .ops.selective_scan_interface import mamba_inner_fn, selective_scan_fn

__all__ = ["mamba_inner_fn", "selective_scan_fn"]
