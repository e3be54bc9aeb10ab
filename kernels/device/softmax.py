"""Softmax over the last axis: x (N, D) -> (N, D), any N and D.

Rows on the partition axis. With D <= ``ROW_CHUNK`` the row stays on chip: max, exp(x - max) with the row sum,
then one multiply by the reciprocal of the sum. Longer rows use the online formulation over column chunks
(running max and rescaled running sum), then a second pass over HBM writes exp(x - max) / sum.
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import PMAX, ROW_CHUNK, tiles


def _neg_scaled(m, rows, factor):
    out = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_scalar(dst=out, data=m, op0=nl.multiply, operand0=factor)
    return out


def _row_reduce(data, rows, op):
    out = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_reduce(dst=out, op=op, data=data, axis=1, keepdims=True)
    return out


@nki.jit
def softmax_kernel(x):
    """out[i, :] = exp(x[i, :] - max_i) / sum(exp(x[i, :] - max_i)).  x: (N, D) HBM."""
    n, d = x.shape
    out = nl.ndarray((n, d), dtype=x.dtype, buffer=nl.shared_hbm)
    chunks = tiles(d, ROW_CHUNK)

    for r0, rows in tiles(n, PMAX):
        if len(chunks) == 1:
            xt = nl.ndarray((rows, d), dtype=x.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=xt, src=x[r0:r0 + rows, 0:d])
            neg_max = _neg_scaled(_row_reduce(xt, rows, nl.maximum), rows, -1.0)
            e = nl.ndarray((rows, d), dtype=nl.float32, buffer=nl.sbuf)
            nisa.activation(dst=e, op=nl.exp, data=xt, bias=neg_max, scale=1.0)
            inv = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
            nisa.reciprocal(dst=inv, data=_row_reduce(e, rows, nl.add))
            yo = nl.ndarray((rows, d), dtype=x.dtype, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=yo, data=e, op0=nl.multiply, operand0=inv)
            nisa.dma_copy(dst=out[r0:r0 + rows, 0:d], src=yo)
        else:
            run_max = None
            run_sum = None
            for j in range(len(chunks)):
                c0, cs = chunks[j]
                xt = nl.ndarray((rows, cs), dtype=x.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=xt, src=x[r0:r0 + rows, c0:c0 + cs])
                chunk_max = _row_reduce(xt, rows, nl.maximum)
                if j == 0:
                    new_max = chunk_max
                else:
                    new_max = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
                    nisa.tensor_tensor(dst=new_max, data1=run_max, data2=chunk_max, op=nl.maximum)
                neg_max = _neg_scaled(new_max, rows, -1.0)
                e = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.activation(dst=e, op=nl.exp, data=xt, bias=neg_max, scale=1.0)
                chunk_sum = _row_reduce(e, rows, nl.add)
                if j == 0:
                    run_sum = chunk_sum
                else:
                    alpha = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
                    nisa.activation(dst=alpha, op=nl.exp, data=run_max, bias=neg_max, scale=1.0)
                    scaled = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
                    nisa.tensor_tensor(dst=scaled, data1=run_sum, data2=alpha, op=nl.multiply)
                    total = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
                    nisa.tensor_tensor(dst=total, data1=scaled, data2=chunk_sum, op=nl.add)
                    run_sum = total
                run_max = new_max

            neg_max = _neg_scaled(run_max, rows, -1.0)
            inv = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
            nisa.reciprocal(dst=inv, data=run_sum)
            for j in range(len(chunks)):
                c0, cs = chunks[j]
                xt = nl.ndarray((rows, cs), dtype=x.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=xt, src=x[r0:r0 + rows, c0:c0 + cs])
                e = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.activation(dst=e, op=nl.exp, data=xt, bias=neg_max, scale=1.0)
                yo = nl.ndarray((rows, cs), dtype=x.dtype, buffer=nl.sbuf)
                nisa.tensor_scalar(dst=yo, data=e, op0=nl.multiply, operand0=inv)
                nisa.dma_copy(dst=out[r0:r0 + rows, c0:c0 + cs], src=yo)
    return out
