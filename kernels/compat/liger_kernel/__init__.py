"""Shim for ``liger_kernel``: ``liger_kernel.transformers`` (RMSNorm, LayerNorm, SwiGLU MLP, RoPE) on porter's
kernels. See ``porter.kernels.compat.liger_kernel.transformers``."""
