"""RMSNorm and LayerNorm over the last axis: x (N, D) -> (N, D), any N and D.

Rows go on the partition axis (128 per tile, the last tile ragged). A row of up to ``ROW_CHUNK`` elements stays on
chip between the statistics pass and the normalising pass; longer rows are processed in column chunks and
re-read from HBM for each pass, so D is bounded only by HBM.
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import PMAX, ROW_CHUNK, load_broadcast_row, tiles


def _load(x, r0, rows, c0, cs):
    t = nl.ndarray((rows, cs), dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x[r0:r0 + rows, c0:c0 + cs])
    return t


def _row_sum(data, rows, cs, square):
    """(rows, 1) fp32 sum over the free axis of ``data`` (of ``data**2`` when ``square``)."""
    part = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
    if square:
        sq = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_tensor(dst=sq, data1=data, data2=data, op=nl.multiply)
        nisa.tensor_reduce(dst=part, op=nl.add, data=sq, axis=1, keepdims=True)
    else:
        nisa.tensor_reduce(dst=part, op=nl.add, data=data, axis=1, keepdims=True)
    return part


def _accumulate(total, part, rows, first):
    if first:
        return part
    acc = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_tensor(dst=acc, data1=total, data2=part, op=nl.add)
    return acc


def _rstd(sum_sq, rows, d, eps):
    """1 / sqrt(sum_sq / d + eps) as a (rows, 1) fp32 vector."""
    ms = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_scalar(dst=ms, data=sum_sq, op0=nl.multiply, operand0=1.0 / d, op1=nl.add, operand1=eps)
    rstd = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.activation(dst=rstd, op=nl.rsqrt, data=ms)
    return rstd


@nki.jit
def rmsnorm_kernel(x, weight, eps=1e-6):
    """out = x * rsqrt(mean(x**2, axis=-1) + eps) * weight.  x: (N, D) HBM; weight: (1, D) HBM."""
    n, d = x.shape
    out = nl.ndarray((n, d), dtype=x.dtype, buffer=nl.shared_hbm)
    chunks = tiles(d, ROW_CHUNK)
    single = len(chunks) == 1
    w_all = None
    if single:
        w_all = load_broadcast_row(weight, 0, d, min(n, PMAX))

    for r0, rows in tiles(n, PMAX):
        kept = []
        sum_sq = None
        for j in range(len(chunks)):
            c0, cs = chunks[j]
            xt = _load(x, r0, rows, c0, cs)
            if single:
                kept.append(xt)
            sum_sq = _accumulate(sum_sq, _row_sum(xt, rows, cs, True), rows, j == 0)
        rstd = _rstd(sum_sq, rows, d, eps)

        for j in range(len(chunks)):
            c0, cs = chunks[j]
            xt = kept[0] if single else _load(x, r0, rows, c0, cs)
            w = w_all[0:rows, 0:cs] if single else load_broadcast_row(weight, c0, cs, rows)
            y = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=y, data=xt, op0=nl.multiply, operand0=rstd)
            yo = nl.ndarray((rows, cs), dtype=x.dtype, buffer=nl.sbuf)
            nisa.tensor_tensor(dst=yo, data1=y, data2=w, op=nl.multiply)
            nisa.dma_copy(dst=out[r0:r0 + rows, c0:c0 + cs], src=yo)
    return out


@nki.jit
def layernorm_kernel(x, weight, bias, eps=1e-5):
    """out = (x - mean) * rsqrt(var + eps) * weight + bias over the last axis (biased variance).

    x: (N, D) HBM; weight, bias: (1, D) HBM. The variance is computed from the centred values (two passes), not
    as E[x^2] - E[x]^2.
    """
    n, d = x.shape
    out = nl.ndarray((n, d), dtype=x.dtype, buffer=nl.shared_hbm)
    chunks = tiles(d, ROW_CHUNK)
    single = len(chunks) == 1
    w_all = None
    b_all = None
    if single:
        w_all = load_broadcast_row(weight, 0, d, min(n, PMAX))
        b_all = load_broadcast_row(bias, 0, d, min(n, PMAX))

    for r0, rows in tiles(n, PMAX):
        kept = []
        total = None
        for j in range(len(chunks)):
            c0, cs = chunks[j]
            xt = _load(x, r0, rows, c0, cs)
            if single:
                kept.append(xt)
            total = _accumulate(total, _row_sum(xt, rows, cs, False), rows, j == 0)
        neg_mean = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(dst=neg_mean, data=total, op0=nl.multiply, operand0=-1.0 / d)

        centred = []
        sum_sq = None
        for j in range(len(chunks)):
            c0, cs = chunks[j]
            xt = kept[0] if single else _load(x, r0, rows, c0, cs)
            xc = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=xc, data=xt, op0=nl.add, operand0=neg_mean)
            if single:
                centred.append(xc)
            sum_sq = _accumulate(sum_sq, _row_sum(xc, rows, cs, True), rows, j == 0)
        rstd = _rstd(sum_sq, rows, d, eps)

        for j in range(len(chunks)):
            c0, cs = chunks[j]
            if single:
                xc = centred[0]
                w = w_all[0:rows, 0:cs]
                b = b_all[0:rows, 0:cs]
            else:
                xt = _load(x, r0, rows, c0, cs)
                xc = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.tensor_scalar(dst=xc, data=xt, op0=nl.add, operand0=neg_mean)
                w = load_broadcast_row(weight, c0, cs, rows)
                b = load_broadcast_row(bias, c0, cs, rows)
            y = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=y, data=xc, op0=nl.multiply, operand0=rstd)
            yw = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_tensor(dst=yw, data1=y, data2=w, op=nl.multiply)
            yo = nl.ndarray((rows, cs), dtype=x.dtype, buffer=nl.sbuf)
            nisa.tensor_tensor(dst=yo, data1=yw, data2=b, op=nl.add)
            nisa.dma_copy(dst=out[r0:r0 + rows, c0:c0 + cs], src=yo)
    return out
