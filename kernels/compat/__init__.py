"""Drop-in shims for fused CUDA libraries, backed by porter's kernel library.

``porter port`` rewrites imports of fused CUDA packages by module prefix::

    flash_attn...    -> porter.kernels.compat.flash_attn...
    xformers...      -> porter.kernels.compat.xformers...
    apex...          -> porter.kernels.compat.apex...
    liger_kernel...  -> porter.kernels.compat.liger_kernel...
    mamba_ssm...     -> porter.kernels.compat.mamba_ssm...      (the functional ops)
    causal_conv1d... -> porter.kernels.compat.causal_conv1d...

Each shim keeps the original's public name, signature, parameter names (so ``state_dict`` keys still load) and
numerics, and computes through ``porter.kernels`` (NKI kernel on a NeuronCore, simulated kernel under
``porter.kernels.simulate()``, PyTorch reference elsewhere). Arguments the kernels cannot honour exactly raise
``ValueError`` naming the argument at call time; nothing is silently approximated. See ``docs/kernel-swaps.md``.

Importing this package imports none of the shims (each subpackage loads on first use).
"""

from __future__ import annotations

from ._util import UnsupportedArgumentError

__all__ = ["UnsupportedArgumentError"]
