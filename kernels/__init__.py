"""porter's NKI kernel library: NKI kernels, PyTorch references and dispatching torch functions.

Each kernel has a module here with

* the torch-facing function (and an ``nn.Module`` where it makes sense), which runs
  - the ``@nki.jit`` kernel when its tensors are on a Neuron device (``device.type`` "neuron" or "xla"),
  - the kernel in porter's CPU simulator for CPU tensors inside ``with porter.kernels.simulate():`` or with
    ``PORTER_KERNELS_SIMULATE=1``,
  - the PyTorch reference otherwise (CPU, CUDA, ...);
* the PyTorch reference (``*_reference``), which also provides the gradients: kernels are forward-only and their
  backward recomputes the reference under ``enable_grad``;
* the ``@nki.jit`` kernel itself, whose source lives in ``porter.kernels.device`` and is imported only on first
  use (importing this package needs torch, never ``nki``).

``porter.kernels.registry`` lists every kernel with its test grid and tolerances (``porter kernels list``).

The package re-exports the functions, so ``porter.kernels.attention``, ``.softmax`` and ``.matmul`` are the
functions; their modules stay importable by dotted path (``from porter.kernels.attention import attention_kernel``).
"""

from __future__ import annotations

from . import registry
from ._runtime import (
    NEURON_DEVICE_TYPES,
    SIMULATE_ENV,
    choose_path,
    dispatch_counts,
    last_run_stats,
    reset_dispatch_counts,
    simulate,
    simulation_enabled,
)
from .attention import Attention, attention, attention_reference
from .geglu import GeGLU, geglu, geglu_reference
from .layernorm import LayerNorm, layer_norm, layer_norm_reference
from .matmul import Linear, linear, linear_reference, matmul, matmul_reference
from .rmsnorm import RMSNorm, rms_norm, rms_norm_reference
from .rotary import RotaryEmbedding, apply_rotary, rotary_reference, rotary_tables
from .softmax import Softmax, softmax, softmax_reference
from .ssm import selective_scan, selective_scan_reference
from .swiglu import SwiGLU, swiglu, swiglu_reference

__all__ = [
    "NEURON_DEVICE_TYPES",
    "SIMULATE_ENV",
    "Attention",
    "GeGLU",
    "LayerNorm",
    "Linear",
    "RMSNorm",
    "RotaryEmbedding",
    "Softmax",
    "SwiGLU",
    "apply_rotary",
    "attention",
    "attention_reference",
    "choose_path",
    "dispatch_counts",
    "geglu",
    "geglu_reference",
    "last_run_stats",
    "layer_norm",
    "layer_norm_reference",
    "linear",
    "linear_reference",
    "matmul",
    "matmul_reference",
    "registry",
    "reset_dispatch_counts",
    "rms_norm",
    "rms_norm_reference",
    "rotary_reference",
    "rotary_tables",
    "selective_scan",
    "selective_scan_reference",
    "simulate",
    "simulation_enabled",
    "softmax",
    "softmax_reference",
    "swiglu",
    "swiglu_reference",
]
