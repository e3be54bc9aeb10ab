"""Gated linear units: SwiGLU = silu(a) * b and GeGLU = gelu(a) * b, elementwise over (N, D), any N and D.

The activation runs on the Scalar Engine (fp32 math), the product on the Vector Engine, which casts to the output
dtype on write. Tiles are 128 rows x up to ``COL_TILE`` columns.
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import PMAX, tiles

COL_TILE = 2048


def _glu(a, b, act):
    n, d = a.shape
    out = nl.ndarray((n, d), dtype=a.dtype, buffer=nl.shared_hbm)
    for r0, rows in tiles(n, PMAX):
        for c0, cs in tiles(d, COL_TILE):
            at = nl.ndarray((rows, cs), dtype=a.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=at, src=a[r0:r0 + rows, c0:c0 + cs])
            bt = nl.ndarray((rows, cs), dtype=b.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=bt, src=b[r0:r0 + rows, c0:c0 + cs])
            gate = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.activation(dst=gate, op=act, data=at)
            yo = nl.ndarray((rows, cs), dtype=a.dtype, buffer=nl.sbuf)
            nisa.tensor_tensor(dst=yo, data1=gate, data2=bt, op=nl.multiply)
            nisa.dma_copy(dst=out[r0:r0 + rows, c0:c0 + cs], src=yo)
    return out


@nki.jit
def swiglu_kernel(a, b):
    """silu(a) * b.  a, b: (N, D) HBM of one dtype."""
    return _glu(a, b, nl.silu)


@nki.jit
def geglu_kernel(a, b, approximate="none"):
    """gelu(a) * b with exact (erf) GELU, or its tanh approximation when ``approximate == "tanh"``."""
    if approximate == "tanh":
        return _glu(a, b, nl.gelu_apprx_tanh)
    return _glu(a, b, nl.gelu)
