"""Shim for ``causal_conv1d``: ``causal_conv1d_fn`` and ``causal_conv1d_update`` on porter's SSM kernels
(``porter.kernels.ssm``), with causal-conv1d's signatures and parameter names."""

from .causal_conv1d_interface import causal_conv1d_fn, causal_conv1d_update

__all__ = ["causal_conv1d_fn", "causal_conv1d_update"]
