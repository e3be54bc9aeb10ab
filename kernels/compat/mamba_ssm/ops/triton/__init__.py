"""Shim for ``mamba_ssm.ops.triton``: ``selective_state_update`` only."""
