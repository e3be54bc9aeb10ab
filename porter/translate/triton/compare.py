"""The elementwise check of `porter kernels verify`: a translation's tensor against the original's, within the
tolerance of the dtype it ran in (porter.translate.triton.verify: TOLERANCE, BF16_SCALE_ATOL)."""

from __future__ import annotations

import math
from typing import Any

from .verify import BF16_SCALE_ATOL, TOLERANCE


def compare(a: Any, b: Any, dtype: str) -> tuple[float, bool, int]:
    """(max abs error, within tolerance, elements outside it) of the translation's `a` against `b`."""
    import torch

    rtol, atol = TOLERANCE[dtype]
    x, y = a.float(), b.float()
    if x.shape != y.shape:
        return math.inf, False, max(x.numel(), y.numel())
    nan_mismatch = torch.isnan(x) != torch.isnan(y)
    diff = (x - y).abs()
    diff = torch.where(torch.isnan(x) & torch.isnan(y), torch.zeros_like(diff), diff)
    inf_same = torch.isinf(x) & torch.isinf(y) & (x == y)
    diff = torch.where(inf_same, torch.zeros_like(diff), diff)
    err = float(diff.max()) if diff.numel() else 0.0
    scale = y.abs().nan_to_num(0, 0, 0)
    if dtype == "bfloat16":  # bf16 intermediates round to a few ulps of the values' scale, not of each element
        atol = atol + BF16_SCALE_ATOL * float(scale.max()) if scale.numel() else atol
    outside = int((nan_mismatch | ~(diff <= atol + rtol * scale)).sum())
    return err, outside == 0, outside
