"""Shim for ``flash_attn.ops``: ``rms_norm`` and ``layer_norm`` submodules on porter's norm kernels."""
