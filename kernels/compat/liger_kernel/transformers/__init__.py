"""Shim for ``liger_kernel.transformers``: ``LigerRMSNorm``, ``LigerLayerNorm``, ``LigerSwiGLUMLP`` and
``liger_rotary_pos_emb`` on porter's rms_norm / layer_norm / swiglu / rotary kernels. Liger's model
monkey-patching entry points (``apply_liger_kernel_to_*``) are not provided: swap the modules directly."""

from .layer_norm import LigerLayerNorm
from .rms_norm import LigerRMSNorm
from .rope import liger_rotary_pos_emb
from .swiglu import LigerSwiGLUMLP

__all__ = ["LigerLayerNorm", "LigerRMSNorm", "LigerSwiGLUMLP", "liger_rotary_pos_emb"]
