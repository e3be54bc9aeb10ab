"""On-chip tile primitives the operations share: the DMA rectangles covering an offset grid, a row copied to
every partition, a transpose through PSUM."""

import builtins as _b

import nki.isa as nisa
import nki.language as nl
import numpy as np

from porter.translate.triton.nki_tl.core import PMAX, PSUM_FMAX, Unsupported, _is_float, _new


def _runs(off, valid):
    """Rectangles (p0, np, f0, nf, start, pstride, fstride) covering the valid elements of an offset grid."""
    p, f = off.shape
    rows = []
    for i in _b.range(p):
        cols = np.flatnonzero(valid[i])
        segs = []
        if cols.size:
            o = off[i, cols]
            s = 0
            while s < cols.size:
                e = s + 1
                if e < cols.size and cols[e] == cols[s] + 1:
                    st = o[e] - o[s]
                    while e < cols.size and cols[e] == cols[e - 1] + 1 and o[e] - o[e - 1] == st:
                        e += 1
                else:
                    st = 1
                segs.append((int(cols[s]), e - s, int(o[s]), int(st)))
                s = e
        rows.append(segs)
    rects = []
    open_ = {}
    for i, segs in enumerate(rows):
        nxt = {}
        for f0, nf, start, fs in segs:
            key = (f0, nf, fs)
            r = open_.get(key)
            if r is not None and r[0] + r[1] == i and (r[1] == 1 or start - r[4] == r[5] * r[1]):
                ps = start - r[4] if r[1] == 1 else r[5]
                r = (r[0], r[1] + 1, f0, nf, r[4], ps, fs)
                nxt[key] = r
            else:
                if r is not None:
                    rects.append(r)
                nxt[key] = (i, 1, f0, nf, start, 1, fs)
        for key, r in open_.items():
            if key not in nxt:
                rects.append(r)
            elif nxt[key][0] != r[0]:
                rects.append(r)
        open_ = nxt
    rects.extend(open_.values())
    return rects

def _broadcast_partitions(dst, row):
    """Copy the (1, F) tile ``row`` into every partition of ``dst`` (P, F) through the Tensor Engine."""
    rows, width = dst.shape
    src = row
    if not _is_float(row.dtype) or str(row.dtype) not in ("float32", "bfloat16", "float16"):
        src = _new((1, width), nl.float32)
        nisa.tensor_copy(dst=src, src=row)
    ones = _new((1, rows), src.dtype)
    nisa.memset(dst=ones, value=1.0)
    for f0 in _b.range(0, width, PSUM_FMAX):
        fs = _b.min(PSUM_FMAX, width - f0)
        ps = nl.ndarray((rows, fs), dtype=nl.float32, buffer=nl.psum)
        nisa.nc_matmul(dst=ps, stationary=ones, moving=src[0:1, f0:f0 + fs], accumulate=False)
        nisa.tensor_copy(dst=dst[0:rows, f0:f0 + fs], src=ps)

def _transpose_tile(src, dtype=None):
    p, f = src.shape[0], int(np.prod(src.shape[1:]))
    if p > PMAX or f > PMAX:
        raise Unsupported(f"a transpose of a {p} x {f} block (at most {PMAX} x {PMAX})")
    ps = nl.ndarray((f, p), dtype=src.dtype if _is_float(src.dtype) else nl.float32, buffer=nl.psum)
    s = src
    if not _is_float(src.dtype):
        s = _new((p, f), nl.float32)
        nisa.tensor_copy(dst=s, src=src)
    nisa.nc_transpose(dst=ps, data=s)
    out = _new((f, p), dtype or s.dtype)
    nisa.tensor_copy(dst=out, src=ps)
    return out
