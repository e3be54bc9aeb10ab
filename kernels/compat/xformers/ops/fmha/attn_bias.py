"""Shim for ``xformers.ops.fmha.attn_bias``: the attention-bias classes ``memory_efficient_attention`` accepts.

Supported by the porter shim (see ``porter.kernels.compat.xformers.ops.fmha``):

* ``LowerTriangularMask()``: causal mask, top-left aligned (query i sees keys j <= i);
* ``LowerTriangularFromBottomRightMask()``: causal mask aligned to the bottom-right corner (query i sees keys
  j <= i + M_k - M_q);
* ``LowerTriangularMaskWithTensorBias`` (``LowerTriangularMask().add_bias(tensor)``): causal mask plus a dense
  additive bias.

The block-diagonal / local / paged biases are defined so that code constructing them still imports and runs, but
passing one to ``memory_efficient_attention`` raises :class:`~porter.kernels.compat.UnsupportedArgumentError`
naming the class.
"""

from __future__ import annotations

import torch

__all__ = [
    "AttentionBias",
    "BlockDiagonalCausalFromBottomRightMask",
    "BlockDiagonalCausalLocalAttentionFromBottomRightMask",
    "BlockDiagonalCausalLocalAttentionMask",
    "BlockDiagonalCausalWithOffsetPaddedKeysMask",
    "BlockDiagonalMask",
    "BlockDiagonalPaddedKeysMask",
    "LocalAttentionFromBottomRightMask",
    "LowerTriangularFromBottomRightLocalAttentionMask",
    "LowerTriangularFromBottomRightMask",
    "LowerTriangularMask",
    "LowerTriangularMaskWithTensorBias",
]


class AttentionBias:
    """Base class of the structured attention biases (``xformers.ops.fmha.attn_bias.AttentionBias``)."""

    def materialize(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu") -> torch.Tensor:
        """The dense additive bias of ``shape`` (..., M_q, M_k): 0 where attended, -inf where masked."""
        raise NotImplementedError(f"{type(self).__name__}.materialize is not available in porter's shim")


def _causal_dense(shape, dtype, device, bottom_right: bool) -> torch.Tensor:
    mq, mk = shape[-2], shape[-1]
    shift = (mk - mq) if bottom_right else 0
    blocked = torch.ones(mq, mk, dtype=torch.bool, device=device).triu(diagonal=1 + shift)
    dense = torch.zeros(mq, mk, dtype=dtype, device=device).masked_fill(blocked, float("-inf"))
    return dense.expand(*shape)


class LowerTriangularMask(AttentionBias):
    """Causal mask, top-left aligned: query i may attend to keys j <= i."""

    def __init__(self, *tensor_args, **tensor_kwargs) -> None:
        # xformers accepts (and ignores) tensor-constructor arguments here
        super().__init__()

    def materialize(self, shape, dtype=torch.float32, device="cpu"):
        return _causal_dense(shape, dtype, device, bottom_right=False)

    def add_bias(self, bias: torch.Tensor) -> LowerTriangularMaskWithTensorBias:
        """This mask plus a dense additive ``bias`` (broadcastable to (B, H, M_q, M_k))."""
        return LowerTriangularMaskWithTensorBias(bias)


class LowerTriangularMaskWithTensorBias(LowerTriangularMask):
    """Top-left causal mask plus a dense additive bias tensor (``_bias``)."""

    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self._bias = bias

    def materialize(self, shape, dtype=torch.float32, device="cpu"):
        return super().materialize(shape, dtype=dtype, device=device) + self._bias.to(dtype=dtype, device=device)


class LowerTriangularFromBottomRightMask(AttentionBias):
    """Causal mask aligned to the bottom-right corner: query i may attend to keys j <= i + M_k - M_q."""

    def materialize(self, shape, dtype=torch.float32, device="cpu"):
        return _causal_dense(shape, dtype, device, bottom_right=True)


class _UnsupportedBias(AttentionBias):
    """A bias type the porter shim does not implement: constructing it works, using it raises."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.args, self.kwargs = args, kwargs

    @classmethod
    def from_seqlens(cls, *args, **kwargs):
        return cls(*args, **kwargs)

    @classmethod
    def from_tensor_list(cls, *args, **kwargs):
        return cls(*args, **kwargs)

    @classmethod
    def from_tensor_lists_qkv(cls, *args, **kwargs):
        return cls(*args, **kwargs)

    def make_causal(self):
        return BlockDiagonalCausalMask(self)

    def make_causal_from_bottomright(self):
        return BlockDiagonalCausalFromBottomRightMask(self)

    def make_local_attention(self, *args, **kwargs):
        return BlockDiagonalCausalLocalAttentionMask(self)

    def make_local_attention_from_bottomright(self, *args, **kwargs):
        return BlockDiagonalCausalLocalAttentionFromBottomRightMask(self)


class BlockDiagonalMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class BlockDiagonalCausalMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class BlockDiagonalCausalFromBottomRightMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class BlockDiagonalCausalLocalAttentionMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class BlockDiagonalCausalLocalAttentionFromBottomRightMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class BlockDiagonalCausalWithOffsetPaddedKeysMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class BlockDiagonalPaddedKeysMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class LowerTriangularFromBottomRightLocalAttentionMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""


class LocalAttentionFromBottomRightMask(_UnsupportedBias):
    """Not supported by porter's shim (raises when used)."""
