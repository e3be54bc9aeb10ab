"""Attention forward, flash style: softmax(scale * q @ k.T + mask) @ v, never materialising the full score matrix.

Layout: q (B, Hq, Sq, D), k and v (B, Hkv, Sk, D) with Hq a multiple of Hkv (grouped-query attention: query head
h reads kv head h // (Hq // Hkv)); out (B, Hq, Sq, D) in q's dtype. D <= 512 (contracted in 128-row pieces);
any Sq, Sk.

Per (batch, kv head), k.T (D on partitions) and the 128-row blocks of v are staged in SBUF once and shared by
every query head of the group. Per 128-row query tile the kernel walks the keys in tiles of 512 (one fp32 PSUM
bank of scores) with the online softmax:

    s      = q @ k_tile.T (+ mask_bias / scale)            Tensor Engine, fp32 PSUM
    m_new  = max(m, rowmax(s))
    p      = exp(scale * s - scale * m_new)                Scalar Engine, fp32
    alpha  = exp(scale * m - scale * m_new)
    l      = alpha * l + rowsum(p)
    acc    = alpha * acc + p @ v_tile                      p.T built with nc_transpose, 128 keys at a time

and finally out = acc / l. Masks:

* ``causal``: key j is visible to query i iff j <= i (top-left aligned, as torch's ``is_causal``). Key tiles
  entirely above the diagonal are skipped at trace time; diagonal tiles go through ``nisa.affine_select``.
* ``mask_bias`` (B, Sk) fp32, additive, in post-scale units (0 keeps a key, ``NEG_INF`` drops it): added to the
  scores inside the same PSUM accumulation group as a rank-1 update ones(1, q).T @ (mask_bias / scale).

A masked score is the finite ``NEG_INF`` (not -inf): no row ever produces NaN, even one whose keys are all masked.
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import NEG_INF, PMAX, PSUM_FMAX, tiles, transpose_into

K_TILE = PSUM_FMAX  # keys per score tile: one PSUM bank of fp32


def _vec(rows):
    return nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)


def _attention(q, k, v, mask_bias, has_mask, causal, scale):
    b_count, hq, sq, d = q.shape
    hkv = k.shape[1]
    sk = k.shape[2]
    group = hq // hkv
    out = nl.ndarray((b_count, hq, sq, d), dtype=q.dtype, buffer=nl.shared_hbm)
    d_tiles = tiles(d, PMAX)
    key_blocks = tiles(sk, PMAX)

    ones = None
    if has_mask:
        ones = nl.ndarray((1, PMAX), dtype=nl.float32, buffer=nl.sbuf)
        nisa.memset(dst=ones, value=1.0)

    for b in range(b_count):
        mb = None
        if has_mask:
            mb_raw = nl.ndarray((1, sk), dtype=nl.float32, buffer=nl.sbuf)
            nisa.dma_copy(dst=mb_raw, src=mask_bias[b:b + 1, 0:sk])
            mb = nl.ndarray((1, sk), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=mb, data=mb_raw, op0=nl.multiply, operand0=1.0 / scale)

        for g in range(hkv):
            # Stage k.T as D-pieces of (dp, Sk) and v as 128-key blocks of (kb, D).
            kT = []
            for _d0, dp in d_tiles:
                kT.append(nl.ndarray((dp, sk), dtype=k.dtype, buffer=nl.sbuf))
            v_blocks = []
            for j0, kb in key_blocks:
                k_blk = nl.ndarray((kb, d), dtype=k.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=k_blk, src=k[b, g, j0:j0 + kb, 0:d])
                for di in range(len(d_tiles)):
                    d0, dp = d_tiles[di]
                    transpose_into(kT[di][0:dp, j0:j0 + kb], k_blk[0:kb, d0:d0 + dp])
                v_blk = nl.ndarray((kb, d), dtype=v.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=v_blk, src=v[b, g, j0:j0 + kb, 0:d])
                v_blocks.append(v_blk)

            for hg in range(group):
                h = g * group + hg
                for q0, qr in tiles(sq, PMAX):
                    q_blk = nl.ndarray((qr, d), dtype=q.dtype, buffer=nl.sbuf)
                    nisa.dma_copy(dst=q_blk, src=q[b, h, q0:q0 + qr, 0:d])
                    qT = []
                    for d0, dp in d_tiles:
                        qt = nl.ndarray((dp, qr), dtype=q.dtype, buffer=nl.sbuf)
                        transpose_into(qt, q_blk[0:qr, d0:d0 + dp])
                        qT.append(qt)

                    # Key tiles this query tile can see.
                    visible = []
                    for k0, kc in tiles(sk, K_TILE):
                        if (not causal) or k0 <= q0 + qr - 1:
                            visible.append((k0, kc))

                    m_run = None
                    l_run = None
                    acc = None
                    for t in range(len(visible)):
                        k0, kc = visible[t]
                        s_ps = nl.ndarray((qr, kc), dtype=nl.float32, buffer=nl.psum)
                        for di in range(len(d_tiles)):
                            nisa.nc_matmul(dst=s_ps, stationary=qT[di], moving=kT[di][0:d_tiles[di][1], k0:k0 + kc],
                                           accumulate=di > 0)
                        if has_mask:
                            nisa.nc_matmul(dst=s_ps, stationary=ones[0:1, 0:qr], moving=mb[0:1, k0:k0 + kc],
                                           accumulate=True)
                        scores = s_ps
                        if causal and k0 + kc - 1 > q0:
                            # Diagonal tile: keep key k0 + j for query q0 + p iff (q0 - k0) + p - j >= 0.
                            s_sb = nl.ndarray((qr, kc), dtype=nl.float32, buffer=nl.sbuf)
                            nisa.tensor_copy(dst=s_sb, src=s_ps)
                            scores = nl.ndarray((qr, kc), dtype=nl.float32, buffer=nl.sbuf)
                            nisa.affine_select(dst=scores, pattern=[[-1, kc]], channel_multiplier=1,
                                               on_true_tile=s_sb, on_false_value=NEG_INF / scale,
                                               cmp_op=nl.greater_equal, offset=q0 - k0)

                        tile_max = _vec(qr)
                        nisa.tensor_reduce(dst=tile_max, op=nl.maximum, data=scores, axis=1, keepdims=True)
                        if t == 0:
                            m_new = tile_max
                        else:
                            m_new = _vec(qr)
                            nisa.tensor_tensor(dst=m_new, data1=m_run, data2=tile_max, op=nl.maximum)
                        neg_m = _vec(qr)
                        nisa.tensor_scalar(dst=neg_m, data=m_new, op0=nl.multiply, operand0=-scale)

                        p = nl.ndarray((qr, kc), dtype=nl.float32, buffer=nl.sbuf)
                        nisa.activation(dst=p, op=nl.exp, data=scores, bias=neg_m, scale=scale)
                        tile_sum = _vec(qr)
                        nisa.tensor_reduce(dst=tile_sum, op=nl.add, data=p, axis=1, keepdims=True)

                        # p @ v_tile, 128 keys at a time: stationary p.T (kb, qr), moving v block (kb, D).
                        p_mm = p
                        if v.dtype != nl.float32:
                            p_mm = nl.ndarray((qr, kc), dtype=v.dtype, buffer=nl.sbuf)
                            nisa.tensor_copy(dst=p_mm, src=p)
                        pv = nl.ndarray((qr, d), dtype=nl.float32, buffer=nl.psum)
                        sub = tiles(kc, PMAX)
                        for si in range(len(sub)):
                            j0, kb = sub[si]
                            pT = nl.ndarray((kb, qr), dtype=v.dtype, buffer=nl.sbuf)
                            transpose_into(pT, p_mm[0:qr, j0:j0 + kb])
                            nisa.nc_matmul(dst=pv, stationary=pT, moving=v_blocks[(k0 + j0) // PMAX],
                                           accumulate=si > 0)

                        if t == 0:
                            l_new = tile_sum
                            acc_new = nl.ndarray((qr, d), dtype=nl.float32, buffer=nl.sbuf)
                            nisa.tensor_copy(dst=acc_new, src=pv)
                        else:
                            alpha = _vec(qr)
                            nisa.activation(dst=alpha, op=nl.exp, data=m_run, bias=neg_m, scale=scale)
                            l_scaled = _vec(qr)
                            nisa.tensor_tensor(dst=l_scaled, data1=l_run, data2=alpha, op=nl.multiply)
                            l_new = _vec(qr)
                            nisa.tensor_tensor(dst=l_new, data1=l_scaled, data2=tile_sum, op=nl.add)
                            acc_scaled = nl.ndarray((qr, d), dtype=nl.float32, buffer=nl.sbuf)
                            nisa.tensor_scalar(dst=acc_scaled, data=acc, op0=nl.multiply, operand0=alpha)
                            acc_new = nl.ndarray((qr, d), dtype=nl.float32, buffer=nl.sbuf)
                            nisa.tensor_tensor(dst=acc_new, data1=acc_scaled, data2=pv, op=nl.add)
                        m_run = m_new
                        l_run = l_new
                        acc = acc_new

                    inv_l = _vec(qr)
                    nisa.reciprocal(dst=inv_l, data=l_run)
                    o_blk = nl.ndarray((qr, d), dtype=q.dtype, buffer=nl.sbuf)
                    nisa.tensor_scalar(dst=o_blk, data=acc, op0=nl.multiply, operand0=inv_l)
                    nisa.dma_copy(dst=out[b, h, q0:q0 + qr, 0:d], src=o_blk)
    return out


@nki.jit
def attention_kernel(q, k, v, causal=False, scale=1.0):
    """Flash attention forward without a padding mask (see module docstring)."""
    return _attention(q, k, v, None, False, causal, scale)


@nki.jit
def attention_masked_kernel(q, k, v, mask_bias, causal=False, scale=1.0):
    """Flash attention forward with an additive key mask ``mask_bias`` (B, Sk) fp32 (see module docstring)."""
    return _attention(q, k, v, mask_bias, True, causal, scale)
