"""Tile-size constants and small NKI building blocks shared by the kernels (inlined by the NKI compiler)."""

import nki.isa as nisa
import nki.language as nl

PMAX = 128  # partitions per SBUF/PSUM tile (nl.tile_size.pmax)
PSUM_FMAX = 512  # fp32 elements per partition in one PSUM bank (nl.tile_size.psum_fmax)
STATIONARY_FMAX = 128  # free size of the matmul stationary operand (nl.tile_size.gemm_stationary_fmax)
MOVING_FMAX = 512  # free size of the matmul moving operand (nl.tile_size.gemm_moving_fmax)
ROW_CHUNK = 4096  # free-dim elements a row-wise kernel keeps on chip per tile before switching to chunked passes
NEG_INF = -30000.0  # masked attention score (after scaling); exp() of it underflows to exactly 0 in fp32


def cdiv(a, b):
    return (a + b - 1) // b


def tiles(n, size):
    """[(start, length), ...] covering range(n) in steps of ``size``; the last tile may be short (ragged)."""
    return [(i * size, min(size, n - i * size)) for i in range(cdiv(n, size))]


def broadcast_row(dst, row):
    """Replicate the (1, F) SBUF row ``row`` into every partition of the fp32 SBUF tile ``dst`` (P, F).

    Partition broadcast on the Tensor Engine: ``ones(1, P).T @ row`` lands the row in each of the P output
    partitions, exactly (one product per element), in PSUM banks of at most 512 fp32.
    """
    rows, width = dst.shape
    ones = nl.ndarray((1, rows), dtype=row.dtype, buffer=nl.sbuf)
    nisa.memset(dst=ones, value=1.0)
    for f0, fs in tiles(width, PSUM_FMAX):
        ps = nl.ndarray((rows, fs), dtype=nl.float32, buffer=nl.psum)
        nisa.nc_matmul(dst=ps, stationary=ones, moving=row[0:1, f0:f0 + fs], accumulate=False)
        nisa.tensor_copy(dst=dst[0:rows, f0:f0 + fs], src=ps)


def load_broadcast_row(vec, c0, cs, rows):
    """HBM (1, F) vector ``vec`` columns [c0, c0+cs) replicated over ``rows`` partitions as an fp32 SBUF tile."""
    row = nl.ndarray((1, cs), dtype=vec.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=row, src=vec[0:1, c0:c0 + cs])
    out = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
    broadcast_row(out, row)
    return out


def transpose_into(dst, src):
    """dst (F, P) <- src (P, F).T for an SBUF tile of at most 128 x 128, through the Tensor Engine and PSUM."""
    p, f = src.shape
    ps = nl.ndarray((f, p), dtype=src.dtype, buffer=nl.psum)
    nisa.nc_transpose(dst=ps, data=src)
    nisa.tensor_copy(dst=dst, src=ps)
