"""Rotary position embedding: x (BH, S, D) with per-position cos/sin (S, D/2) -> (BH, S, D).

Two layouts of the rotated pairs:

* half rotation (Llama / GPT-NeoX): pair (x[i], x[i + D/2]);
* interleaved (GPT-J): pair (x[2i], x[2i + 1]), addressed as stride-2 views of the SBUF tile.

For pair (x1, x2) with angle cos/sin: out1 = x1*cos - x2*sin, out2 = x2*cos + x1*sin. Positions go on the
partition axis (128 per tile, the last ragged); cos/sin tiles are loaded once per position tile and reused for
every (batch, head).
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import PMAX, tiles


def _mul(dst_rows, dst_cols, a, b):
    t = nl.ndarray((dst_rows, dst_cols), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_tensor(dst=t, data1=a, data2=b, op=nl.multiply)
    return t


@nki.jit
def rotary_kernel(x, cos, sin, interleaved=False):
    """x: (BH, S, D) HBM; cos, sin: (S, D // 2) HBM. D must be even."""
    bh, s, d = x.shape
    half = d // 2
    out = nl.ndarray((bh, s, d), dtype=x.dtype, buffer=nl.shared_hbm)
    for s0, rows in tiles(s, PMAX):
        ct = nl.ndarray((rows, half), dtype=cos.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=ct, src=cos[s0:s0 + rows, 0:half])
        st = nl.ndarray((rows, half), dtype=sin.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=st, src=sin[s0:s0 + rows, 0:half])
        for i in range(bh):
            xt = nl.ndarray((rows, d), dtype=x.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=xt, src=x[i, s0:s0 + rows, 0:d])
            ot = nl.ndarray((rows, d), dtype=x.dtype, buffer=nl.sbuf)
            if interleaved:
                x1 = xt[0:rows, 0:d:2]
                x2 = xt[0:rows, 1:d:2]
                o1 = ot[0:rows, 0:d:2]
                o2 = ot[0:rows, 1:d:2]
            else:
                x1 = xt[0:rows, 0:half]
                x2 = xt[0:rows, half:d]
                o1 = ot[0:rows, 0:half]
                o2 = ot[0:rows, half:d]
            nisa.tensor_tensor(dst=o1, data1=_mul(rows, half, x1, ct), data2=_mul(rows, half, x2, st),
                               op=nl.subtract)
            nisa.tensor_tensor(dst=o2, data1=_mul(rows, half, x2, ct), data2=_mul(rows, half, x1, st),
                               op=nl.add)
            nisa.dma_copy(dst=out[i, s0:s0 + rows, 0:d], src=ot)
    return out
