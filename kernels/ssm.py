"""State-space-model (mamba-style) kernels: selective scan, causal depthwise conv1d and their one-step updates.

* ``selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)``: the
  recurrence ``h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t``, ``y_t = <C_t, h_t> + D * u_t``, gated by
  ``silu(z)``. Layouts follow mamba-ssm: u, delta, z (batch, dim, L); A (dim, dstate); B, C (dim, dstate)
  (time-invariant), (batch, dstate, L) or grouped (batch, groups, dstate, L). Real A only.
* ``causal_conv1d_reference(x, weight, bias, initial_states, return_final_states, activation)``: depthwise causal
  convolution over L, x (batch, dim, L), weight (dim, width).
* ``causal_conv1d_update_reference(x, conv_state, weight, bias, activation)``: decode step(s); updates
  ``conv_state`` (batch, dim, state_len >= width - 1) in place like the original.
* ``selective_state_update_reference(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)``: one recurrence step;
  updates ``state`` in place.
* ``mamba_inner_reference(...)``: mamba's fused block (conv, x/delta projections, scan, output projection).

``selective_scan``, ``causal_conv1d`` / ``causal_conv1d_step`` and ``selective_state_step`` dispatch like every porter
kernel (``selective_scan_kernel``, ``causal_conv1d_kernel``, ``selective_state_update_kernel`` in
``porter.kernels.device.ssm`` on a Neuron device or in the simulator, the reference elsewhere; backward recomputes
the reference).
All math is fp32 (fp64 stays fp64); outputs come back in the input's dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _runtime
from ._common import randn
from .registry import Case, KernelSpec, register

SCAN = "selective_scan"
CONV = "causal_conv1d"
STATE = "selective_state_update"
SILU_NAMES = (None, "silu", "swish")


def _up(t: torch.Tensor) -> torch.Tensor:
    """fp32 math for fp32 and narrower inputs (as the originals do); fp64 stays fp64 (gradcheck, audits)."""
    return t if t.dtype == torch.float64 else t.float()


def _check_real(A: torch.Tensor, api: str) -> None:
    if A.is_complex():
        raise NotImplementedError(f"{api}: complex A is not supported by porter's selective scan (real A only)")


def _expand_groups(M: torch.Tensor, dim: int, what: str) -> torch.Tensor:
    """(batch, G, dstate, L) -> (batch, dim, dstate, L): group g serves channels g*dim/G .. (g+1)*dim/G - 1."""
    groups = M.shape[1]
    if dim % groups:
        raise ValueError(f"selective_scan: {what} has {groups} groups, which do not divide dim={dim}")
    return M.repeat_interleave(dim // groups, dim=1)


def selective_scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                             return_last_state=False):
    _check_real(A, "selective_scan_fn")
    dtype_in = u.dtype
    u, delta, A = _up(u), _up(delta), _up(A)
    batch, dim, length = u.shape
    if delta_bias is not None:
        delta = delta + _up(delta_bias)[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    # B, C as (batch or 1, dim or 1, dstate, L) so one broadcast covers all three layouts
    per_step = []
    for M, what in ((B, "B"), (C, "C")):
        M = _up(M)
        if M.dim() == 2:
            M = M[None, :, :, None]
        elif M.dim() == 3:
            M = M[:, None]
        elif M.dim() == 4:
            M = _expand_groups(M, dim, what)
        else:
            raise ValueError(f"selective_scan_fn: {what} must have 2, 3 or 4 dimensions, got {tuple(M.shape)}")
        per_step.append(M)
    Bx, Cx = per_step
    dA = torch.exp(delta[..., None] * A[None, :, None, :])  # (batch, dim, L, dstate)
    h = u.new_zeros(batch, dim, A.shape[-1])
    ys = []
    for t in range(length):
        b_t = Bx[..., min(t, Bx.shape[-1] - 1)]
        c_t = Cx[..., min(t, Cx.shape[-1] - 1)]
        h = dA[:, :, t] * h + (delta[:, :, t] * u[:, :, t])[..., None] * b_t
        ys.append((h * c_t).sum(-1))
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(batch, dim, 0)
    if D is not None:
        y = y + u * _up(D)[:, None]
    if z is not None:
        y = y * F.silu(_up(z))
    out = y.to(dtype_in)
    return (out, h) if return_last_state else out


def _activate(y: torch.Tensor, activation, api: str) -> torch.Tensor:
    if activation not in SILU_NAMES:
        raise NotImplementedError(f"{api}: activation must be None, 'silu' or 'swish', got {activation!r}")
    return F.silu(y) if activation is not None else y


def causal_conv1d_reference(x, weight, bias=None, initial_states=None, return_final_states=False, activation=None):
    dtype_in = x.dtype
    dim, width = weight.shape
    length = x.shape[-1]
    xf = _up(x)
    if initial_states is not None:
        padded = torch.cat([_up(initial_states), xf], dim=-1)
    else:
        padded = F.pad(xf, (width - 1, 0))
    y = F.conv1d(padded, _up(weight).unsqueeze(1), None if bias is None else _up(bias), groups=dim)
    y = _activate(y[..., :length], activation, "causal_conv1d_fn").to(dtype_in)
    if not return_final_states:
        return y
    final = padded[..., padded.shape[-1] - (width - 1):]  # padded holds >= width - 1 steps
    return y, final.to(dtype_in)


def causal_conv1d_update_reference(x, conv_state, weight, bias=None, activation=None):
    dtype_in = x.dtype
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(-1)
    dim, width = weight.shape
    state_len = conv_state.shape[-1]
    if state_len < width - 1:
        raise ValueError(f"causal_conv1d_update: conv_state holds {state_len} steps, the weight needs {width - 1}")
    length = x.shape[-1]
    window = torch.cat([_up(conv_state), _up(x)], dim=-1)
    with torch.no_grad():
        conv_state.copy_(window[..., -state_len:].to(conv_state.dtype))
    y = F.conv1d(window, _up(weight).unsqueeze(1), None if bias is None else _up(bias), groups=dim)
    y = _activate(y[..., -length:], activation, "causal_conv1d_update").to(dtype_in)
    return y.squeeze(-1) if single else y


def selective_state_update_reference(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    _check_real(A, "selective_state_update")
    heads = state.dim() == 4
    if not heads:  # (batch, dim, dstate) -> one head
        x, dt, A, B, C = x[:, None], dt[:, None], A[None], B[:, None], C[:, None]
        D = None if D is None else D[None]
        z = None if z is None else z[:, None]
        dt_bias = None if dt_bias is None else dt_bias[None]
        work = state[:, None]
    else:
        work = state
    nheads = work.shape[1]
    dtf = _up(dt)
    if dt_bias is not None:
        dtf = dtf + _up(dt_bias)
    if dt_softplus:
        dtf = F.softplus(dtf)
    groups = B.shape[1]
    if nheads % groups:
        raise ValueError(f"selective_state_update: {groups} groups of B/C do not divide {nheads} heads")
    Bh = _up(B).repeat_interleave(nheads // groups, dim=1)  # (batch, nheads, dstate)
    Ch = _up(C).repeat_interleave(nheads // groups, dim=1)
    dA = torch.exp(dtf[..., None] * _up(A))  # (batch, nheads, dim, dstate)
    new_state = _up(work) * dA + (dtf * _up(x))[..., None] * Bh[:, :, None, :]
    with torch.no_grad():
        work.copy_(new_state.to(work.dtype))
    out = (new_state * Ch[:, :, None, :]).sum(-1)
    if D is not None:
        out = out + _up(x) * _up(D)
    if z is not None:
        out = out * F.silu(_up(z))
    out = out.to(x.dtype)
    return out if heads else out[:, 0]


def mamba_inner_reference(xz, conv1d_weight, conv1d_bias, x_proj_weight, delta_proj_weight, out_proj_weight,
                          out_proj_bias, A, B=None, C=None, D=None, delta_bias=None, B_proj_bias=None,
                          C_proj_bias=None, delta_softplus=True):
    length = xz.shape[-1]
    delta_rank = delta_proj_weight.shape[1]
    d_state = A.shape[-1]
    x, z = xz.chunk(2, dim=1)
    weight = conv1d_weight.reshape(conv1d_weight.shape[0], conv1d_weight.shape[-1])
    x = causal_conv1d(x, weight, conv1d_bias, activation="silu")
    x_dbl = F.linear(x.transpose(1, 2).reshape(-1, x.shape[1]), x_proj_weight)  # (batch*L, rank + 2*dstate)
    delta = (x_dbl[:, :delta_rank] @ delta_proj_weight.t()).reshape(-1, length, delta_proj_weight.shape[0])
    delta = delta.transpose(1, 2)

    def projected(start: int, bias):
        M = x_dbl[:, start:start + d_state]
        if bias is not None:
            M = M + bias.to(M.dtype)
        return M.reshape(-1, length, d_state).transpose(1, 2).contiguous()

    B = projected(delta_rank, B_proj_bias) if B is None else B
    C = projected(delta_rank + d_state, C_proj_bias) if C is None else C
    y = selective_scan(x, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus)
    return F.linear(y.transpose(1, 2), out_proj_weight, out_proj_bias)


# ---------------------------------------------------------------------------------------- torch-facing functions
# Each dispatches like every kernel: NKI on Neuron, simulator under simulate(), else the reference; backward
# recomputes the reference. In-place state updates happen here, outside the kernel call, so a recompute never
# sees a state that already moved on.

def _per_row(M: torch.Tensor, batch: int, dim: int, length: int) -> torch.Tensor:
    """B or C in any mamba layout as (batch * dim, N * L): one row per (batch, channel), state-major."""
    if M.dim() == 2:
        M = M[None, :, :, None].expand(batch, dim, M.shape[-1], length)
    elif M.dim() == 3:
        M = M[:, None].expand(batch, dim, *M.shape[1:])
    else:
        M = _expand_groups(M, dim, "B/C")
    return M.reshape(batch * dim, -1).contiguous()


def _column(v: torch.Tensor | None, batch: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """A per-channel vector (dim,) as an fp32 (batch * dim, 1) column; zeros when absent."""
    if v is None:
        return torch.zeros(batch * dim, 1, dtype=torch.float32, device=like.device)
    return v.float().reshape(1, dim).expand(batch, dim).reshape(batch * dim, 1).contiguous()


def _scan_launch(call, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                 return_last_state=False):
    batch, dim, length = u.shape
    n_state = A.shape[-1]
    if length == 0 or batch * dim == 0:
        return selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    from .device.ssm import selective_scan_kernel

    rows = batch * dim
    u2 = u.reshape(rows, length).contiguous()
    args = (u2, delta.reshape(rows, length).contiguous(),
            A.float()[None].expand(batch, dim, n_state).reshape(rows, n_state).contiguous(),
            _per_row(B, batch, dim, length), _per_row(C, batch, dim, length), _column(D, batch, dim, u),
            u2 if z is None else z.reshape(rows, length).contiguous(), _column(delta_bias, batch, dim, u))
    out, last = call(selective_scan_kernel, args, {"softplus": bool(delta_softplus), "has_z": z is not None})
    out = out.reshape(batch, dim, length)
    return (out, last.reshape(batch, dim, n_state)) if return_last_state else out


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False):
    _check_real(A, "selective_scan_fn")
    return _runtime.apply_kernel(SCAN, _scan_launch, selective_scan_reference, (u, delta, A, B, C, D, z, delta_bias),
                                 {"delta_softplus": delta_softplus, "return_last_state": return_last_state})


def conv_valid_reference(xpad, weight, bias=None, silu=False):
    """``out[..., t] = act(bias + sum_j weight[:, j] * xpad[..., t + j])``: the causal conv once the history is
    prepended (xpad (batch, dim, width - 1 + L) -> (batch, dim, L))."""
    y = F.conv1d(_up(xpad), _up(weight).unsqueeze(1), None if bias is None else _up(bias), groups=weight.shape[0])
    return (F.silu(y) if silu else y).to(xpad.dtype)


def _conv_launch(call, xpad, weight, bias=None, silu=False):
    batch, dim, padded_len = xpad.shape
    width = weight.shape[1]
    if batch * dim == 0 or padded_len - (width - 1) <= 0:
        return conv_valid_reference(xpad, weight, bias, silu)
    from .device.ssm import causal_conv1d_kernel

    rows = batch * dim
    w = weight.float()[None].expand(batch, dim, width).reshape(rows, width).contiguous()
    out = call(causal_conv1d_kernel, (xpad.reshape(rows, padded_len).contiguous(), w, _column(bias, batch, dim, xpad)),
               {"silu": bool(silu)})
    return out.reshape(batch, dim, padded_len - (width - 1))


def _conv(xpad, weight, bias, activation, api):
    if activation not in SILU_NAMES:
        raise NotImplementedError(f"{api}: activation must be None, 'silu' or 'swish', got {activation!r}")
    return _runtime.apply_kernel(CONV, _conv_launch, conv_valid_reference, (xpad, weight, bias),
                                 {"silu": activation is not None})


def causal_conv1d(x, weight, bias=None, initial_states=None, return_final_states=False, activation=None):
    width = weight.shape[1]
    history = x.new_zeros(*x.shape[:-1], width - 1) if initial_states is None else initial_states.to(x.dtype)
    padded = torch.cat([history, x], dim=-1)
    y = _conv(padded, weight, bias, activation, "causal_conv1d_fn")
    if not return_final_states:
        return y
    return y, padded[..., padded.shape[-1] - (width - 1):]


def causal_conv1d_step(x, conv_state, weight, bias=None, activation=None):
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(-1)
    width = weight.shape[1]
    state_len, length = conv_state.shape[-1], x.shape[-1]
    if state_len < width - 1:
        raise ValueError(f"causal_conv1d_update: conv_state holds {state_len} steps, the weight needs {width - 1}")
    window = torch.cat([conv_state.to(x.dtype), x], dim=-1)
    with torch.no_grad():  # the cache moves on before the conv runs, as in causal-conv1d (in place)
        conv_state.copy_(window[..., -state_len:])
    y = _conv(window[..., window.shape[-1] - (width - 1 + length):], weight, bias, activation,
              "causal_conv1d_update")
    return y.squeeze(-1) if single else y


def state_step_reference(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    """One recurrence step in the heads layout without touching ``state``: (out, new_state).

    state (batch, H, P, N); x, dt, z (batch, H, P); A (H, P, N); B, C (batch, G, N); D, dt_bias (H, P)."""
    work = state.clone()
    out = selective_state_update_reference(work, x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    return out, work


def _state_launch(call, state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    batch, heads, per_head, n_state = state.shape
    rows = batch * heads * per_head
    if rows == 0:
        return state_step_reference(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    from .device.ssm import selective_state_update_kernel

    groups = B.shape[1]
    if heads % groups:
        raise ValueError(f"selective_state_update: {groups} groups of B/C do not divide {heads} heads")

    def per_row(M):  # (batch, G, N) -> (rows, N)
        M = M.repeat_interleave(heads // groups, dim=1)[:, :, None].expand(batch, heads, per_head, n_state)
        return M.reshape(rows, n_state).contiguous()

    def column(v, default=None):  # (H, P) or (batch, H, P) -> (rows, 1)
        if v is None:
            return default if default is not None else torch.zeros(rows, 1, dtype=torch.float32, device=x.device)
        if v.dim() == 2:
            v = _up(v)[None].expand(batch, heads, per_head)
        return v.reshape(rows, 1).contiguous()

    x2 = column(x)
    args = (state.reshape(rows, n_state).contiguous(), x2, column(dt), _up(A)[None].expand(batch, heads, per_head,
            n_state).reshape(rows, n_state).contiguous(), per_row(B), per_row(C), column(D), column(z, x2),
            column(dt_bias))
    out, new_state = call(selective_state_update_kernel, args, {"softplus": bool(dt_softplus), "has_z": z is not None})
    return out.reshape(batch, heads, per_head), new_state.reshape(state.shape)


def selective_state_step(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    _check_real(A, "selective_state_update")
    heads = state.dim() == 4
    if not heads:  # (batch, dim, dstate) is one head
        x, dt, A, B, C = x[:, None], dt[:, None], A[None], B[:, None], C[:, None]
        D = None if D is None else D[None]
        z = None if z is None else z[:, None]
        dt_bias = None if dt_bias is None else dt_bias[None]
    work = state if heads else state[:, None]
    # the kernel reads a snapshot; the caller's state is overwritten afterwards, in place as in mamba-ssm
    snapshot = work.detach().clone() if torch.is_grad_enabled() else work
    out, new_state = _runtime.apply_kernel(STATE, _state_launch, state_step_reference,
                                           (snapshot, x, dt, A, B, C, D, z, dt_bias), {"dt_softplus": dt_softplus})
    with torch.no_grad():
        work.copy_(new_state)
    return out if heads else out[:, 0]


def mamba_inner(*args, **kwargs):
    _runtime.record("mamba_inner", _runtime.PATH_REFERENCE)
    return mamba_inner_reference(*args, **kwargs)


def _make_scan_inputs(p, dtype, gen):
    batch, dim, n, length = p["batch"], p["dim"], p["n"], p["L"]
    layouts = {"time-invariant": (dim, n), "per-batch": (batch, n, length), "grouped": (batch, 2, n, length)}
    shape = layouts[p.get("layout", "per-batch")]
    u, delta, z = randn((batch, dim, length), dtype, gen), randn((batch, dim, length), dtype, gen, 0.5), None
    A = (-torch.rand(dim, n, generator=gen) - 0.1).to(dtype)
    D, bias = randn((dim,), dtype, gen), randn((dim,), dtype, gen, 0.3)
    if p.get("gate", True):
        z = randn((batch, dim, length), dtype, gen)
    return (u, delta, A, randn(shape, dtype, gen), randn(shape, dtype, gen), D, z, bias), {"delta_softplus": True}


SPEC = register(KernelSpec(
    name=SCAN,
    summary="mamba selective scan (h = exp(delta*A) h + delta*B*u, y = C.h + D*u, gated by silu(z))",
    device_module="ssm",
    kernel_names=("selective_scan_kernel",),
    reference=selective_scan_reference,
    launch=_scan_launch,
    make_inputs=_make_scan_inputs,
    torch_function=selective_scan,
    cases=(
        Case("1x1x1x1", {"batch": 1, "dim": 1, "n": 1, "L": 1}),
        Case("2x4x3x7-invariant", {"batch": 2, "dim": 4, "n": 3, "L": 7, "layout": "time-invariant"}),
        Case("2x4x3x9-grouped-nogate", {"batch": 2, "dim": 4, "n": 3, "L": 9, "layout": "grouped", "gate": False}),
        Case("3x50x4x33-ragged-rows", {"batch": 3, "dim": 50, "n": 4, "L": 33}),
        Case("1x8x2x600-chunked", {"batch": 1, "dim": 8, "n": 2, "L": 600}),
    ),
    tolerances={"float32": (1e-4, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("2x256x16x512", {"batch": 2, "dim": 256, "n": 16, "L": 512}),
))


def _make_conv_inputs(p, dtype, gen):
    batch, dim, width, length = p["batch"], p["dim"], p["width"], p["L"]
    xpad = randn((batch, dim, width - 1 + length), dtype, gen)
    bias = randn((dim,), dtype, gen) if p.get("bias", True) else None
    return (xpad, randn((dim, width), dtype, gen, 0.5), bias), {"silu": p.get("silu", True)}


CONV_SPEC = register(KernelSpec(
    name=CONV,
    summary="causal depthwise conv1d over the history-prefixed input (causal-conv1d's fn and update), optional silu",
    device_module="ssm",
    kernel_names=("causal_conv1d_kernel",),
    reference=conv_valid_reference,
    launch=_conv_launch,
    make_inputs=_make_conv_inputs,
    torch_function=causal_conv1d,
    cases=(
        Case("1x1x4x1", {"batch": 1, "dim": 1, "width": 4, "L": 1}),
        Case("2x5x3x9-nobias-linear", {"batch": 2, "dim": 5, "width": 3, "L": 9, "bias": False, "silu": False}),
        Case("3x50x4x33-ragged-rows", {"batch": 3, "dim": 50, "width": 4, "L": 33}),
        Case("1x8x4x2100-chunked", {"batch": 1, "dim": 8, "width": 4, "L": 2100}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("2x256x4x2048", {"batch": 2, "dim": 256, "width": 4, "L": 2048}),
))


def _state_reference_out(state, x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    return state_step_reference(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)[0]


def _state_launch_out(call, *tensors, **params):
    return _state_launch(call, *tensors, **params)[0]


def _make_state_inputs(p, dtype, gen):
    batch, heads, per_head, n, groups = p["batch"], p["heads"], p["P"], p["n"], p.get("groups", 1)
    state = randn((batch, heads, per_head, n), dtype, gen)
    x, dt = randn((batch, heads, per_head), dtype, gen), randn((batch, heads, per_head), dtype, gen, 0.5)
    A = (-torch.rand(heads, per_head, n, generator=gen) - 0.1).to(dtype)
    B, C = randn((batch, groups, n), dtype, gen), randn((batch, groups, n), dtype, gen)
    z = randn((batch, heads, per_head), dtype, gen) if p.get("gate", True) else None
    D, bias = randn((heads, per_head), dtype, gen), randn((heads, per_head), dtype, gen, 0.3)
    return (state, x, dt, A, B, C, D, z, bias), {"dt_softplus": True}


# The registry compares one output: the step's output (the new state is checked by tests/kernels/test_ssm.py).
STATE_SPEC = register(KernelSpec(
    name=STATE,
    summary="one mamba decode step (state = state*exp(dt*A) + dt*x*B; y = C.state + D*x, gated by silu(z))",
    device_module="ssm",
    kernel_names=("selective_state_update_kernel",),
    reference=_state_reference_out,
    launch=_state_launch_out,
    make_inputs=_make_state_inputs,
    torch_function=selective_state_step,
    cases=(
        Case("1x1x1x1", {"batch": 1, "heads": 1, "P": 1, "n": 1}),
        Case("2x4x8x16-groups2-nogate", {"batch": 2, "heads": 4, "P": 8, "n": 16, "groups": 2, "gate": False}),
        Case("3x2x40x4-ragged-rows", {"batch": 3, "heads": 2, "P": 40, "n": 4}),
    ),
    tolerances={"float32": (1e-5, 1e-5), "bfloat16": (2e-2, 2e-2)},
    bench_case=Case("8x32x64x128", {"batch": 8, "heads": 32, "P": 64, "n": 128}),
))
