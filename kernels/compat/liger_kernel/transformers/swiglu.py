"""Shim for ``liger_kernel.transformers.swiglu.LigerSwiGLUMLP`` with the gate on ``porter.kernels.swiglu``.

``LigerSwiGLUMLP(config)``: ``down_proj(silu(gate_proj(x)) * up_proj(x))`` with bias-free ``gate_proj`` /
``up_proj`` (hidden_size -> intermediate_size) and ``down_proj`` (intermediate_size -> hidden_size), the Hugging
Face Llama MLP parameter names, so checkpoints load unchanged. ``config.hidden_act`` must be "silu" or "swish"
(ValueError otherwise, as Liger).
"""

from __future__ import annotations

import torch.nn as nn

from ....swiglu import swiglu

__all__ = ["LigerSwiGLUMLP"]


class LigerSwiGLUMLP(nn.Module):
    """``liger_kernel.transformers.LigerSwiGLUMLP`` (see the module docstring)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.hidden_size = config.hidden_size
        self.intermediate_size = config.intermediate_size
        self.gate_proj = nn.Linear(self.hidden_size, self.intermediate_size, bias=False)
        self.up_proj = nn.Linear(self.hidden_size, self.intermediate_size, bias=False)
        self.down_proj = nn.Linear(self.intermediate_size, self.hidden_size, bias=False)
        if config.hidden_act not in ("silu", "swish"):
            raise ValueError(f"Activation function {config.hidden_act} not supported.")

    def forward(self, x):
        return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x)))
