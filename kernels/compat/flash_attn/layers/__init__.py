"""Shim for ``flash_attn.layers``: the ``rotary`` submodule on porter's rotary kernel."""
