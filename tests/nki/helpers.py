"""Small kernel-side helpers shared by the simulator tests."""

from __future__ import annotations

from typing import Any

import nki
import nki.isa as nisa
import nki.language as nl
import numpy as np


def sbuf(x: Any, dtype: Any = None) -> Any:
    """Copy an HBM tensor into a new SBUF tile."""
    t = nl.ndarray(x.shape, dtype or x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x)
    return t


def out(t: Any) -> Any:
    """Copy an on-chip tile to a new shared-HBM output (via SBUF when it lives in PSUM)."""
    if t.buffer == nl.psum:
        s = nl.ndarray(t.shape, t.dtype, buffer=nl.sbuf)
        nisa.tensor_copy(dst=s, src=t)
        t = s
    o = nl.ndarray(t.shape, t.dtype, buffer=nl.shared_hbm)
    nisa.dma_copy(dst=o, src=t)
    return o


def run(body: Any, *arrays: Any) -> Any:
    """Run `body(*hbm_tensors)` as a kernel on the simulator."""
    return nki.simulate(nki.jit(body))(*arrays)


def rand(*shape: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
