"""Shim for ``mamba_ssm.ops.selective_scan_interface``: ``selective_scan_fn``, ``mamba_inner_fn`` and their
``*_ref`` aliases, with mamba-ssm's signatures and parameter names.

Refused at call time (``UnsupportedArgumentError``, a ValueError): complex ``A``; ``mamba_inner_fn``'s
``checkpoint_lvl`` other than 0/1 and the ``b_rms_weight`` / ``c_rms_weight`` / ``dt_rms_weight`` norms.
"""

from __future__ import annotations

from ....ssm import mamba_inner, selective_scan
from ... import _util

__all__ = ["mamba_inner_fn", "mamba_inner_ref", "selective_scan_fn", "selective_scan_ref"]


def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                      return_last_state=False):
    """mamba-ssm's selective scan: u, delta, z (batch, dim, L); A (dim, dstate) real; B, C (dim, dstate),
    (batch, dstate, L) or (batch, groups, dstate, L). Returns out, or (out, last_state) with ``return_last_state``."""
    if A.is_complex():
        raise _util.unsupported("selective_scan_fn", "A", "complex tensor", "porter's selective scan is real-only")
    return selective_scan(u, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus,
                          return_last_state=return_last_state)


def mamba_inner_fn(xz, conv1d_weight, conv1d_bias, x_proj_weight, delta_proj_weight, out_proj_weight,
                   out_proj_bias, A, B=None, C=None, D=None, delta_bias=None, B_proj_bias=None, C_proj_bias=None,
                   delta_softplus=True, checkpoint_lvl=1, b_rms_weight=None, c_rms_weight=None, dt_rms_weight=None,
                   b_c_dt_rms_eps=1e-6):
    """mamba-ssm's fused Mamba block: conv1d + silu, x/delta projections, selective scan gated by z, output
    projection; xz (batch, 2 * dim, L) -> (batch, L, out_features)."""
    if A.is_complex():
        raise _util.unsupported("mamba_inner_fn", "A", "complex tensor", "porter's selective scan is real-only")
    if checkpoint_lvl not in (0, 1):  # recomputation level only: it never changes the result
        raise _util.unsupported("mamba_inner_fn", "checkpoint_lvl", checkpoint_lvl, "mamba-ssm accepts 0 or 1")
    for name, value in (("b_rms_weight", b_rms_weight), ("c_rms_weight", c_rms_weight),
                        ("dt_rms_weight", dt_rms_weight)):
        if value is not None:
            raise _util.unsupported("mamba_inner_fn", name, "a tensor", "the B/C/dt RMS norms are not implemented")
    return mamba_inner(xz, conv1d_weight, conv1d_bias, x_proj_weight, delta_proj_weight, out_proj_weight,
                       out_proj_bias, A, B, C, D, delta_bias, B_proj_bias, C_proj_bias, delta_softplus)


# mamba-ssm exports its pure-PyTorch versions under these names; here they are the same functions.
selective_scan_ref = selective_scan_fn
mamba_inner_ref = mamba_inner_fn
