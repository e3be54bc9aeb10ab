"""porter's state-space-model ops (porter.kernels.ssm through the mamba_ssm / causal_conv1d shims) against plain
loops written here from the documented recurrences, step by step over L: layouts of B/C, options, fp32/bf16, ragged
lengths, in-place state updates, gradients, refused arguments."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from porter.kernels.compat import UnsupportedArgumentError  # noqa: E402
from porter.kernels.compat.causal_conv1d import causal_conv1d_fn, causal_conv1d_update  # noqa: E402
from porter.kernels.compat.mamba_ssm.ops.selective_scan_interface import (  # noqa: E402
    mamba_inner_fn,
    selective_scan_fn,
)
from porter.kernels.compat.mamba_ssm.ops.triton.selective_state_update import (  # noqa: E402
    selective_state_update,
)


def silu(v):
    return v / (1 + torch.exp(-v))


def softplus(v):
    return torch.log1p(torch.exp(v))


def b_at(M, b, d, t, dim):
    """B or C for batch b, channel d, step t in any of mamba's layouts: (dim, N), (batch, N, L), (batch, G, N, L)."""
    if M.dim() == 2:
        return M[d]
    if M.dim() == 3:
        return M[b, :, t]
    return M[b, d // (dim // M.shape[1]), :, t]


def naive_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, softplus_delta=False):
    batch, dim, length = u.shape
    u, delta, A, B, C = u.double(), delta.double(), A.double(), B.double(), C.double()
    y = torch.zeros(batch, dim, length, dtype=torch.float64)
    last = torch.zeros(batch, dim, A.shape[1], dtype=torch.float64)
    for b in range(batch):
        for d in range(dim):
            h = torch.zeros(A.shape[1], dtype=torch.float64)
            for t in range(length):
                dt = delta[b, d, t] + (0 if delta_bias is None else delta_bias[d].double())
                if softplus_delta:
                    dt = softplus(dt)
                h = torch.exp(dt * A[d]) * h + dt * u[b, d, t] * b_at(B, b, d, t, dim)
                out = (h * b_at(C, b, d, t, dim)).sum()
                if D is not None:
                    out = out + D[d].double() * u[b, d, t]
                if z is not None:
                    out = out * silu(z[b, d, t].double())
                y[b, d, t] = out
            last[b, d] = h
    return y, last


def naive_conv(x, weight, bias=None, initial=None, activation=None):
    batch, dim, length = x.shape
    width = weight.shape[1]
    history = torch.zeros(batch, dim, width - 1, dtype=torch.float64) if initial is None else initial.double()
    seq = torch.cat([history, x.double()], dim=-1)
    y = torch.zeros(batch, dim, length, dtype=torch.float64)
    for t in range(length):
        acc = (seq[:, :, t:t + width] * weight.double()).sum(-1)
        if bias is not None:
            acc = acc + bias.double()
        y[:, :, t] = silu(acc) if activation else acc
    return y, seq[:, :, seq.shape[-1] - (width - 1):]


def gen_inputs(batch, dim, dstate, length, layout, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dtype)

    u, delta, z = r(batch, dim, length), r(batch, dim, length, scale=0.5), r(batch, dim, length)
    A = -torch.rand(dim, dstate, generator=g).to(dtype) - 0.1
    shapes = {"time-invariant": (dim, dstate), "per-batch": (batch, dstate, length),
              "grouped": (batch, 2, dstate, length)}
    B, C = r(*shapes[layout]), r(*shapes[layout])
    return u, delta, A, B, C, r(dim), z, r(dim, scale=0.3)


TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.bfloat16: dict(rtol=2e-2, atol=3e-2)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("layout", ["time-invariant", "per-batch", "grouped"])
@pytest.mark.parametrize("length", [1, 7])
def test_selective_scan_matches_loop(dtype, layout, length):
    u, delta, A, B, C, D, z, bias = gen_inputs(2, 4, 3, length, layout, dtype)
    out, last = selective_scan_fn(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True,
                                  return_last_state=True)
    want, want_last = naive_scan(u, delta, A, B, C, D, z, bias, softplus_delta=True)
    assert out.dtype == dtype and out.shape == u.shape
    torch.testing.assert_close(out.double(), want, **TOL[dtype], check_dtype=False)
    torch.testing.assert_close(last.double(), want_last, **TOL[dtype], check_dtype=False)


def test_selective_scan_plain_options():
    u, delta, A, B, C, *_ = gen_inputs(1, 3, 2, 5, "per-batch", torch.float32, seed=3)
    delta = delta.abs()
    want, _ = naive_scan(u, delta, A, B, C)
    torch.testing.assert_close(selective_scan_fn(u, delta, A, B, C).double(), want, rtol=1e-5, atol=1e-6)


def test_selective_scan_gradients_match_loop():
    u, delta, A, B, C, D, z, bias = gen_inputs(1, 4, 2, 4, "grouped", torch.float64, seed=5)
    leaves = [t.clone().requires_grad_() for t in (u, delta, A, B, C, D, z)]
    ours = [t.clone().requires_grad_() for t in (u, delta, A, B, C, D, z)]
    (naive_scan(*leaves[:5], leaves[5], leaves[6], softplus_delta=True)[0] ** 2).sum().backward()
    (selective_scan_fn(*ours[:5], ours[5], z=ours[6], delta_softplus=True) ** 2).sum().backward()
    for mine, theirs in zip(ours, leaves, strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("length,width", [(1, 4), (2, 4), (9, 3)])
def test_causal_conv1d_matches_loop(dtype, length, width):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, length, generator=g).to(dtype)
    w, b = torch.randn(5, width, generator=g).to(dtype), torch.randn(5, generator=g).to(dtype)
    init = torch.randn(2, 5, width - 1, generator=g).to(dtype)
    out, final = causal_conv1d_fn(x, w, b, initial_states=init, return_final_states=True, activation="silu")
    want, want_final = naive_conv(x, w, b, init, activation=True)
    torch.testing.assert_close(out.double(), want, **TOL[dtype], check_dtype=False)
    torch.testing.assert_close(final.double(), want_final, **TOL[dtype], check_dtype=False)
    plain, _ = naive_conv(x, w)
    torch.testing.assert_close(causal_conv1d_fn(x, w).double(), plain, **TOL[dtype], check_dtype=False)


def test_causal_conv1d_final_states_out_is_filled():
    x, w = torch.randn(1, 3, 6), torch.randn(3, 4)
    target = torch.zeros(1, 3, 3)
    _, final = causal_conv1d_fn(x, w, return_final_states=True, final_states_out=target)
    assert final is target
    torch.testing.assert_close(target, x[..., -3:])


def test_causal_conv1d_update_steps_equal_the_full_conv():
    g = torch.Generator().manual_seed(2)
    x, w, b = torch.randn(2, 4, 6, generator=g), torch.randn(4, 4, generator=g), torch.randn(4, generator=g)
    want, _ = naive_conv(x, w, b, activation=True)
    state = torch.zeros(2, 4, 5)  # longer than width - 1, as causal-conv1d allows
    steps = [causal_conv1d_update(x[:, :, t], state, w, b, activation="silu") for t in range(6)]
    torch.testing.assert_close(torch.stack(steps, -1).double(), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state, x[:, :, 1:])  # updated in place: the last 5 inputs
    state3 = torch.zeros(2, 4, 3)
    chunk = causal_conv1d_update(x, state3, w, b, activation=True)  # (batch, dim, seqlen) in one call
    torch.testing.assert_close(chunk.double(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("simulated", [False, True], ids=["reference", "nki-simulated"])
@pytest.mark.parametrize("heads", [False, True], ids=["dim", "heads"])
def test_selective_state_update_steps_equal_the_scan(heads, simulated):
    import porter.kernels as K

    K.reset_dispatch_counts()
    with K.simulate(simulated):
        _state_update_steps(heads)
    assert K.dispatch_counts("selective_state_update") == {"simulate" if simulated else "reference": 5}


def _state_update_steps(heads):
    g = torch.Generator().manual_seed(4)
    batch, dim, dstate, length = 2, 4, 3, 5
    u, delta, A, B, C, D, z, bias = gen_inputs(batch, dim, dstate, length, "per-batch", torch.float32, seed=4)
    want, want_last = naive_scan(u, delta, A, B, C, D, z, bias, softplus_delta=True)
    if heads:  # 2 heads of dim/2 channels, B/C shared by one group
        state = torch.zeros(batch, 2, dim // 2, dstate)
        split = lambda v: v.reshape(batch, 2, dim // 2)  # noqa: E731
        outs = [selective_state_update(state, split(u[..., t]), split(delta[..., t]), A.reshape(2, dim // 2, dstate),
                                       B[:, None, :, t], C[:, None, :, t], D.reshape(2, -1), split(z[..., t]),
                                       bias.reshape(2, -1), dt_softplus=True).reshape(batch, dim)
                for t in range(length)]
        state = state.reshape(batch, dim, dstate)
    else:
        state = torch.zeros(batch, dim, dstate)
        outs = [selective_state_update(state, u[..., t], delta[..., t], A, B[..., t], C[..., t], D, z[..., t], bias,
                                       dt_softplus=True) for t in range(length)]
    del g
    torch.testing.assert_close(torch.stack(outs, -1).double(), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(state.double(), want_last, rtol=1e-4, atol=1e-5)


def test_mamba_inner_fn_matches_composition_of_loops():
    g = torch.Generator().manual_seed(6)
    batch, dim, dstate, rank, length, width, d_model = 2, 4, 3, 2, 5, 4, 3
    xz = torch.randn(batch, 2 * dim, length, generator=g)
    conv_w, conv_b = torch.randn(dim, 1, width, generator=g), torch.randn(dim, generator=g)
    x_proj = torch.randn(rank + 2 * dstate, dim, generator=g) * 0.5
    dt_proj = torch.randn(dim, rank, generator=g) * 0.5
    out_w, out_b = torch.randn(d_model, dim, generator=g), torch.randn(d_model, generator=g)
    A, D, dt_bias = -torch.rand(dim, dstate, generator=g) - 0.1, torch.randn(dim, generator=g), torch.randn(dim)
    out = mamba_inner_fn(xz, conv_w, conv_b, x_proj, dt_proj, out_w, out_b, A, None, None, D, delta_bias=dt_bias)

    x, z = xz[:, :dim], xz[:, dim:]
    xc, _ = naive_conv(x, conv_w[:, 0], conv_b, activation=True)
    xc = xc.float()
    proj = torch.einsum("bdl,ed->bel", xc, x_proj)
    delta = torch.einsum("bkl,dk->bdl", proj[:, :rank], dt_proj)
    y, _ = naive_scan(xc, delta, A, proj[:, rank:rank + dstate], proj[:, rank + dstate:], D, z, dt_bias,
                      softplus_delta=True)
    want = torch.einsum("bdl,md->blm", y, out_w.double()) + out_b.double()
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-4)


def test_refused_arguments_raise_naming_them():
    x, w = torch.randn(1, 2, 3), torch.randn(2, 4)
    with pytest.raises(UnsupportedArgumentError, match="seq_idx"):
        causal_conv1d_fn(x, w, seq_idx=torch.zeros(1, 3, dtype=torch.int32))
    with pytest.raises(UnsupportedArgumentError, match="cache_seqlens"):
        causal_conv1d_update(x, torch.zeros(1, 2, 3), w, cache_seqlens=torch.zeros(1, dtype=torch.int32))
    with pytest.raises(UnsupportedArgumentError, match="state_batch_indices"):
        selective_state_update(torch.zeros(1, 2, 3), x[..., 0], x[..., 0], torch.zeros(2, 3), torch.zeros(1, 3),
                               torch.zeros(1, 3), state_batch_indices=torch.zeros(1, dtype=torch.int32))
    with pytest.raises(UnsupportedArgumentError, match="complex"):
        selective_scan_fn(x, x, torch.zeros(2, 3, dtype=torch.complex64), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(NotImplementedError, match="activation"):
        causal_conv1d_fn(x, w, activation="gelu")


# ------------------------------------------------------------------ the NKI selective-scan kernel, in the simulator

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("layout,length", [("time-invariant", 5), ("per-batch", 1), ("grouped", 9)])
def test_simulated_scan_matches_loop(dtype, layout, length):
    import porter.kernels as K

    u, delta, A, B, C, D, z, bias = gen_inputs(2, 4, 3, length, layout, dtype, seed=7)
    K.reset_dispatch_counts()
    with K.simulate():
        out, last = selective_scan_fn(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True,
                                      return_last_state=True)
    assert K.dispatch_counts("selective_scan") == {"simulate": 1}
    want, want_last = naive_scan(u, delta, A, B, C, D, z, bias, softplus_delta=True)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), want, **TOL[dtype], check_dtype=False)
    torch.testing.assert_close(last.double(), want_last, rtol=1e-4, atol=1e-5, check_dtype=False)


def test_simulated_scan_without_softplus_or_bias():
    import porter.kernels as K

    u, delta, A, B, C, *_ = gen_inputs(1, 3, 2, 6, "per-batch", torch.float32, seed=8)
    with K.simulate():
        got = selective_scan_fn(u, delta.abs(), A, B, C)
    torch.testing.assert_close(got.double(), naive_scan(u, delta.abs(), A, B, C)[0], rtol=1e-4, atol=1e-5)


def test_simulated_scan_gradients_recompute_the_reference():
    import porter.kernels as K

    u, delta, A, B, C, D, z, bias = gen_inputs(1, 4, 2, 4, "per-batch", torch.float32, seed=9)
    ours = [t.clone().requires_grad_() for t in (u, delta, A, B, C, D, z)]
    loops = [t.double().clone().requires_grad_() for t in (u, delta, A, B, C, D, z)]
    with K.simulate():
        (selective_scan_fn(*ours[:5], ours[5], z=ours[6], delta_softplus=True) ** 2).sum().backward()
    (naive_scan(*loops[:5], loops[5], loops[6], softplus_delta=True)[0] ** 2).sum().backward()
    for mine, theirs in zip(ours, loops, strict=True):
        torch.testing.assert_close(mine.grad.double(), theirs.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("length,width", [(1, 4), (11, 3)])
def test_simulated_causal_conv1d_matches_loop(dtype, length, width):
    import porter.kernels as K

    g = torch.Generator().manual_seed(10)
    x = torch.randn(2, 6, length, generator=g).to(dtype)
    w, b = torch.randn(6, width, generator=g).to(dtype), torch.randn(6, generator=g).to(dtype)
    init = torch.randn(2, 6, width - 1, generator=g).to(dtype)
    K.reset_dispatch_counts()
    with K.simulate():
        out, final = causal_conv1d_fn(x, w, b, initial_states=init, return_final_states=True, activation="silu")
        plain = causal_conv1d_fn(x, w)
    assert K.dispatch_counts("causal_conv1d") == {"simulate": 2}
    want, want_final = naive_conv(x, w, b, init, activation=True)
    torch.testing.assert_close(out.double(), want, **TOL[dtype], check_dtype=False)
    torch.testing.assert_close(final.double(), want_final, **TOL[dtype], check_dtype=False)
    torch.testing.assert_close(plain.double(), naive_conv(x, w)[0], **TOL[dtype], check_dtype=False)


def test_simulated_causal_conv1d_update_steps_and_gradients():
    import porter.kernels as K

    g = torch.Generator().manual_seed(11)
    x, w, b = torch.randn(2, 4, 5, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, generator=g)
    want, _ = naive_conv(x, w, b, activation=True)
    state = torch.zeros(2, 4, 2)
    with K.simulate():
        steps = [causal_conv1d_update(x[:, :, t], state, w, b, "silu") for t in range(5)]
    torch.testing.assert_close(torch.stack(steps, -1).double(), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state, x[:, :, 3:])
    xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
    xl, wl = x.double().clone().requires_grad_(), w.double().clone().requires_grad_()
    with K.simulate():
        causal_conv1d_fn(xs, ws, b, activation="silu").square().sum().backward()
    naive_conv(xl, wl, b, activation=True)[0].square().sum().backward()
    torch.testing.assert_close(xs.grad.double(), xl.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ws.grad.double(), wl.grad, rtol=1e-5, atol=1e-6)
