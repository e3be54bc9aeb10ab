"""Simulated `nki.tensor`: trace-time constant tensors (NumPy arrays) for nl.shared_constant."""

from __future__ import annotations

from typing import Any

import numpy as np

from porter.nki import dtypes


def _np_dtype(dtype: Any) -> np.dtype:
    return dtypes.storage_type(dtypes.normalize(dtype, "nki.tensor")) if dtype is not None else np.dtype(np.float32)


def zeros(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.zeros(shape, dtype=_np_dtype(dtype))


def ones(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.ones(shape, dtype=_np_dtype(dtype))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return np.full(shape, fill_value, dtype=_np_dtype(dtype))


def identity(n: int, dtype: Any = None) -> np.ndarray:
    return np.eye(int(n), dtype=_np_dtype(dtype))


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> np.ndarray:
    return np.arange(start, stop, step).astype(_np_dtype(dtype or "int32"))
