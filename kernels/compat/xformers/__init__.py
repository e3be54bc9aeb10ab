"""Shim for ``xformers``: ``xformers.ops`` (memory-efficient attention, attention biases, SwiGLU) on porter's
kernels. See ``porter.kernels.compat.xformers.ops``."""

__version__ = "0.0.28+porter"  # a release with every API the shim mirrors, for version gates
