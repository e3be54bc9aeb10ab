"""Shim for ``causal_conv1d.causal_conv1d_interface``.

Refused at call time (``UnsupportedArgumentError``, a ValueError): ``seq_idx`` (packed sequences),
``causal_conv1d_update``'s ``cache_seqlens`` (circular state buffer) and ``conv_state_indices`` (state pool).
``final_states_out`` is honoured: the final states are written into it and it is returned.
"""

from __future__ import annotations

from ...ssm import causal_conv1d, causal_conv1d_step
from .. import _util

__all__ = ["causal_conv1d_fn", "causal_conv1d_ref", "causal_conv1d_update", "causal_conv1d_update_ref"]


def causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None, return_final_states=False,
                     final_states_out=None, activation=None):
    """Causal depthwise conv1d over x (batch, dim, seqlen) with weight (dim, width), like causal-conv1d's;
    returns out, or (out, final_states) with ``return_final_states``."""
    if seq_idx is not None:
        raise _util.unsupported("causal_conv1d_fn", "seq_idx", "a tensor", "packed sequences are not supported")
    if activation not in (None, "silu", "swish"):
        raise NotImplementedError("activation must be None, silu, or swish")
    result = causal_conv1d(x, weight, bias, initial_states=initial_states, return_final_states=return_final_states,
                           activation=activation)
    if return_final_states and final_states_out is not None:
        out, final = result
        final_states_out.copy_(final)
        return out, final_states_out
    return result


def causal_conv1d_update(x, conv_state, weight, bias=None, activation=None, cache_seqlens=None,
                         conv_state_indices=None):
    """Decode step(s) of the causal conv: x (batch, dim) or (batch, dim, seqlen); ``conv_state``
    (batch, dim, state_len >= width - 1) is updated in place, as in causal-conv1d."""
    if cache_seqlens is not None:
        raise _util.unsupported("causal_conv1d_update", "cache_seqlens", "a tensor",
                                "the circular conv_state buffer is not supported")
    if conv_state_indices is not None:
        raise _util.unsupported("causal_conv1d_update", "conv_state_indices", "a tensor",
                                "index the state pool before the call")
    if isinstance(activation, bool):  # causal-conv1d accepts True for silu
        activation = "silu" if activation else None
    if activation not in (None, "silu", "swish"):
        raise NotImplementedError("activation must be None, silu, or swish")
    return causal_conv1d_step(x, conv_state, weight, bias, activation)


causal_conv1d_ref = causal_conv1d_fn
causal_conv1d_update_ref = causal_conv1d_update
