"""Shim for ``mamba_ssm.ops.triton.selective_state_update``: one decode step of the selective scan.

``state`` is updated in place, as in mamba-ssm. Refused at call time: ``state_batch_indices`` (a state pool
indexed per batch row), complex ``A``.
"""

from __future__ import annotations

from .....ssm import selective_state_step
from .... import _util

__all__ = ["selective_state_update", "selective_state_update_ref"]


def selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False,
                           state_batch_indices=None):
    """One step of the selective scan: ``state`` (batch, dim, dstate) or (batch, nheads, dim, dstate) is updated in
    place; returns the output (batch, dim) or (batch, nheads, dim), as mamba-ssm's."""
    if state_batch_indices is not None:
        raise _util.unsupported("selective_state_update", "state_batch_indices", "a tensor",
                                "index the state pool before the call")
    if A.is_complex():
        raise _util.unsupported("selective_state_update", "A", "complex tensor", "real A only")
    return selective_state_step(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)


selective_state_update_ref = selective_state_update
