"""Tiled matrix multiplication for any M, K, N.

``matmul_kernel(x, w)``       out = x @ w           x (M, K), w (K, N)
``matmul_bias_kernel(...)``   out = x @ w + bias    bias (1, N)
``linear_kernel(x, weight)``  out = x @ weight.T    weight (N, K), the torch.nn.Linear layout
``linear_bias_kernel(...)``   out = x @ weight.T + bias

Tensor Engine mapping: ``nc_matmul`` computes stationary.T @ moving, contracting over the partition axis. Per
output tile of (up to) 128 rows x 512 columns, the stationary operand is a 128 x 128 block of x.T (built on chip
with ``nc_transpose``), the moving operand a 128 x 512 block of w, and the K blocks accumulate in one fp32 PSUM
bank. The bias joins the same accumulation group as a rank-1 update ones(1, M).T @ bias(1, N). Ragged edges in
M, K and N are slices of the last tiles.
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import MOVING_FMAX, PMAX, STATIONARY_FMAX, tiles, transpose_into


def _matmul(x, w, bias, has_bias, w_is_nk):
    m, k = x.shape
    if w_is_nk:
        n = w.shape[0]
    else:
        n = w.shape[1]
    out = nl.ndarray((m, n), dtype=x.dtype, buffer=nl.shared_hbm)
    k_tiles = tiles(k, PMAX)
    ones = None
    if has_bias:
        ones = nl.ndarray((1, STATIONARY_FMAX), dtype=bias.dtype, buffer=nl.sbuf)
        nisa.memset(dst=ones, value=1.0)

    for m0, ms in tiles(m, STATIONARY_FMAX):
        # x rows [m0, m0 + ms) as K-blocks of x.T: (ks, ms) each, K on the partition axis.
        x_tile = nl.ndarray((ms, k), dtype=x.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=x_tile, src=x[m0:m0 + ms, 0:k])
        xT = []
        for k0, ks in k_tiles:
            blk = nl.ndarray((ks, ms), dtype=x.dtype, buffer=nl.sbuf)
            transpose_into(blk, x_tile[0:ms, k0:k0 + ks])
            xT.append(blk)

        for n0, ns in tiles(n, MOVING_FMAX):
            acc = nl.ndarray((ms, ns), dtype=nl.float32, buffer=nl.psum)
            for kt in range(len(k_tiles)):
                k0, ks = k_tiles[kt]
                w_blk = nl.ndarray((ks, ns), dtype=w.dtype, buffer=nl.sbuf)
                if w_is_nk:
                    # weight rows [n0, n0 + ns) are (ns, ks); transpose 128-row pieces into (ks, ns).
                    for p0, ps in tiles(ns, PMAX):
                        piece = nl.ndarray((ps, ks), dtype=w.dtype, buffer=nl.sbuf)
                        nisa.dma_copy(dst=piece, src=w[n0 + p0:n0 + p0 + ps, k0:k0 + ks])
                        transpose_into(w_blk[0:ks, p0:p0 + ps], piece)
                else:
                    nisa.dma_copy(dst=w_blk, src=w[k0:k0 + ks, n0:n0 + ns])
                nisa.nc_matmul(dst=acc, stationary=xT[kt], moving=w_blk, accumulate=kt > 0)
            if has_bias:
                b_row = nl.ndarray((1, ns), dtype=bias.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=b_row, src=bias[0:1, n0:n0 + ns])
                nisa.nc_matmul(dst=acc, stationary=ones[0:1, 0:ms], moving=b_row, accumulate=True)
            res = nl.ndarray((ms, ns), dtype=x.dtype, buffer=nl.sbuf)
            nisa.tensor_copy(dst=res, src=acc)
            nisa.dma_copy(dst=out[m0:m0 + ms, n0:n0 + ns], src=res)
    return out


@nki.jit
def matmul_kernel(x, w):
    """x (M, K) @ w (K, N) -> (M, N) in x's dtype, fp32 accumulation."""
    return _matmul(x, w, None, False, False)


@nki.jit
def matmul_bias_kernel(x, w, bias):
    """x (M, K) @ w (K, N) + bias (1, N)."""
    return _matmul(x, w, bias, True, False)


@nki.jit
def linear_kernel(x, weight):
    """x (M, K) @ weight (N, K).T -> (M, N)."""
    return _matmul(x, weight, None, False, True)


@nki.jit
def linear_bias_kernel(x, weight, bias):
    """x (M, K) @ weight (N, K).T + bias (1, N)."""
    return _matmul(x, weight, bias, True, True)
