"""Selective scan (mamba) on one NeuronCore: (batch, channel) rows on the partition axis, time on the free axis.

For each state index n the recurrence ``h_t = exp(delta_t * A_n) * h_{t-1} + delta_t * u_t * B_{n,t}`` is one
``tensor_tensor_scan`` (multiply, then add) along the free axis, and ``y += h * C_n``. Long sequences run in chunks of
``SCAN_CHUNK`` steps; each chunk's last state seeds the next chunk's scan through the ``initial`` operand, so L is
bounded only by HBM. The launcher hands B and C over expanded per row, (R, N * L), state n in columns n*L .. n*L+L-1.
All arithmetic is fp32; the output is rounded once to u's dtype.
"""

import nki
import nki.isa as nisa
import nki.language as nl

from .common import PMAX, tiles

SCAN_CHUNK = 512  # time steps per on-chip chunk


def _load(src, r0, rows, c0, cs):
    t = nl.ndarray((rows, cs), dtype=src.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=src[r0:r0 + rows, c0:c0 + cs])
    return t


def _binary(a, b, rows, cs, op):
    t = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_tensor(dst=t, data1=a, data2=b, op=op)
    return t


@nki.jit
def selective_scan_kernel(u, delta, A, B, C, D, z, delta_bias, softplus=False, has_z=False):
    """u, delta, z: (R, L); A: (R, N) fp32; B, C: (R, N * L); D, delta_bias: (R, 1) fp32.

    Returns out (R, L) in u's dtype and the last state (R, N) in fp32. ``z`` is read only when ``has_z``.
    """
    r_total, length = u.shape
    n_state = A.shape[1]
    out = nl.ndarray((r_total, length), dtype=u.dtype, buffer=nl.shared_hbm)
    last = nl.ndarray((r_total, n_state), dtype=nl.float32, buffer=nl.shared_hbm)

    for r0, rows in tiles(r_total, PMAX):
        a_t = _load(A, r0, rows, 0, n_state)
        d_t = _load(D, r0, rows, 0, 1)
        bias_t = _load(delta_bias, r0, rows, 0, 1)
        state = nl.ndarray((rows, n_state), dtype=nl.float32, buffer=nl.sbuf)
        nisa.memset(dst=state, value=0.0)

        for c0, cs in tiles(length, SCAN_CHUNK):
            ut = _load(u, r0, rows, c0, cs)
            dt = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            if softplus:
                nisa.activation(dst=dt, op=nl.softplus, data=_load(delta, r0, rows, c0, cs), bias=bias_t)
            else:
                nisa.tensor_scalar(dst=dt, data=_load(delta, r0, rows, c0, cs), op0=nl.add, operand0=bias_t)
            du = _binary(dt, ut, rows, cs, nl.multiply)
            y = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=y, data=ut, op0=nl.multiply, operand0=d_t)  # the skip term D * u

            for n in range(n_state):
                decay = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.activation(dst=decay, op=nl.exp, data=dt, scale=a_t[0:rows, n:n + 1])
                drive = _binary(du, _load(B, r0, rows, n * length + c0, cs), rows, cs, nl.multiply)
                h = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.tensor_tensor_scan(dst=h, data0=decay, data1=drive, initial=state[0:rows, n:n + 1],
                                        op0=nl.multiply, op1=nl.add)
                nisa.tensor_copy(dst=state[0:rows, n:n + 1], src=h[0:rows, cs - 1:cs])
                contrib = _binary(h, _load(C, r0, rows, n * length + c0, cs), rows, cs, nl.multiply)
                y = _binary(y, contrib, rows, cs, nl.add)

            if has_z:
                gate = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.activation(dst=gate, op=nl.silu, data=_load(z, r0, rows, c0, cs))
                y = _binary(y, gate, rows, cs, nl.multiply)
            yo = nl.ndarray((rows, cs), dtype=u.dtype, buffer=nl.sbuf)
            nisa.tensor_copy(dst=yo, src=y)
            nisa.dma_copy(dst=out[r0:r0 + rows, c0:c0 + cs], src=yo)

        nisa.dma_copy(dst=last[r0:r0 + rows, 0:n_state], src=state)
    return out, last


CONV_CHUNK = 2048  # output steps per on-chip chunk of the causal conv


@nki.jit
def causal_conv1d_kernel(xpad, weight, bias, silu=False):
    """Depthwise causal conv: out[r, t] = act(bias[r] + sum_j weight[r, j] * xpad[r, t + j]).

    xpad: (R, width - 1 + L), the history (initial states, zeros or the conv state) followed by the input;
    weight: (R, width) fp32; bias: (R, 1) fp32. Returns (R, L) in xpad's dtype.
    """
    r_total, padded_len = xpad.shape
    width = weight.shape[1]
    length = padded_len - (width - 1)
    out = nl.ndarray((r_total, length), dtype=xpad.dtype, buffer=nl.shared_hbm)
    for r0, rows in tiles(r_total, PMAX):
        w_t = _load(weight, r0, rows, 0, width)
        b_t = _load(bias, r0, rows, 0, 1)
        for c0, cs in tiles(length, CONV_CHUNK):
            xt = _load(xpad, r0, rows, c0, cs + width - 1)
            acc = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_scalar(dst=acc, data=xt[0:rows, 0:cs], op0=nl.multiply, operand0=w_t[0:rows, 0:1])
            for j in range(1, width):
                tap = nl.ndarray((rows, cs), dtype=nl.float32, buffer=nl.sbuf)
                nisa.tensor_scalar(dst=tap, data=xt[0:rows, j:j + cs], op0=nl.multiply, operand0=w_t[0:rows, j:j + 1])
                acc = _binary(acc, tap, rows, cs, nl.add)
            y = nl.ndarray((rows, cs), dtype=xpad.dtype, buffer=nl.sbuf)
            if silu:
                nisa.activation(dst=y, op=nl.silu, data=acc, bias=b_t)
            else:
                nisa.tensor_scalar(dst=y, data=acc, op0=nl.add, operand0=b_t)
            nisa.dma_copy(dst=out[r0:r0 + rows, c0:c0 + cs], src=y)
    return out


@nki.jit
def selective_state_update_kernel(state, x, dt, A, B, C, D, z, dt_bias, softplus=False, has_z=False):
    """One selective-scan step per row (a (batch, head, channel) triple), the state index on the free axis.

    state, A, B, C: (R, N) (A fp32; B, C expanded per row); x, dt, z: (R, 1); D, dt_bias: (R, 1) fp32.
    new_state = state * exp(dt * A) + dt * x * B; out = sum(new_state * C) + D * x, times silu(z) when ``has_z``.
    Returns out (R, 1) in x's dtype and new_state (R, N) in state's dtype.
    """
    r_total, n_state = state.shape
    out = nl.ndarray((r_total, 1), dtype=x.dtype, buffer=nl.shared_hbm)
    new_state = nl.ndarray((r_total, n_state), dtype=state.dtype, buffer=nl.shared_hbm)
    for r0, rows in tiles(r_total, PMAX):
        step = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
        if softplus:
            nisa.activation(dst=step, op=nl.softplus, data=_load(dt, r0, rows, 0, 1),
                            bias=_load(dt_bias, r0, rows, 0, 1))
        else:
            nisa.tensor_scalar(dst=step, data=_load(dt, r0, rows, 0, 1), op0=nl.add,
                               operand0=_load(dt_bias, r0, rows, 0, 1))
        xt = _load(x, r0, rows, 0, 1)
        drive = _binary(step, xt, rows, 1, nl.multiply)
        decay = nl.ndarray((rows, n_state), dtype=nl.float32, buffer=nl.sbuf)
        nisa.activation(dst=decay, op=nl.exp, data=_load(A, r0, rows, 0, n_state), scale=step)
        inject = nl.ndarray((rows, n_state), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(dst=inject, data=_load(B, r0, rows, 0, n_state), op0=nl.multiply, operand0=drive)
        h = _binary(_binary(_load(state, r0, rows, 0, n_state), decay, rows, n_state, nl.multiply), inject,
                    rows, n_state, nl.add)
        ho = nl.ndarray((rows, n_state), dtype=state.dtype, buffer=nl.sbuf)
        nisa.tensor_copy(dst=ho, src=h)
        nisa.dma_copy(dst=new_state[r0:r0 + rows, 0:n_state], src=ho)
        read = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_reduce(dst=read, op=nl.add, data=_binary(h, _load(C, r0, rows, 0, n_state), rows, n_state,
                                                             nl.multiply), axis=1, keepdims=True)
        y = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(dst=y, data=xt, op0=nl.multiply, operand0=_load(D, r0, rows, 0, 1))
        y = _binary(y, read, rows, 1, nl.add)
        if has_z:
            gate = nl.ndarray((rows, 1), dtype=nl.float32, buffer=nl.sbuf)
            nisa.activation(dst=gate, op=nl.silu, data=_load(z, r0, rows, 0, 1))
            y = _binary(y, gate, rows, 1, nl.multiply)
        yo = nl.ndarray((rows, 1), dtype=x.dtype, buffer=nl.sbuf)
        nisa.tensor_copy(dst=yo, src=y)
        nisa.dma_copy(dst=out[r0:r0 + rows, 0:1], src=yo)
    return out, new_state
