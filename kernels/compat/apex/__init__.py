"""Shim for NVIDIA ``apex``: ``apex.normalization`` (fused norms on porter's kernels), ``apex.optimizers``
(pure-PyTorch FusedAdam / FusedSGD / FusedLAMB with apex's arguments and update rules) and ``apex.amp`` (a no-op
façade: use ``torch.autocast``). Submodules load on first import."""
