"""The fused LSTM/GRU cell kernels PyTorch's RNN modules call for CUDA tensors, in CPU tensor ops.

For tensors on a CUDA device, nn.LSTM/nn.GRU (without cuDNN) run each step through
`_thnn_fused_lstm_cell` / `_thnn_fused_gru_cell`, which have CUDA kernels only. These are the
same cell equations (gate order i, f, g, o for LSTM; r, z, n for GRU, as nn.LSTM and nn.GRU
document them), with the workspace layout the backward kernels read back.
"""

from __future__ import annotations

import torch


def lstm_cell(func, args, kwargs):
    input_gates, hidden_gates, cx, input_bias, hidden_bias = (list(args) + [None] * 5)[:5]
    input_bias = kwargs.get("input_bias", input_bias)
    hidden_bias = kwargs.get("hidden_bias", hidden_bias)
    gates = input_gates + hidden_gates
    if input_bias is not None:
        gates = gates + input_bias + hidden_bias
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    cy = f * cx + i * g
    hy = o * cy.tanh()
    return hy, cy, torch.cat([i, f, g, o], dim=1)


def lstm_cell_backward(func, args, kwargs):
    grad_hy, grad_cy, cx, cy, workspace, has_bias = args
    i, f, g, o = workspace.chunk(4, dim=1)
    tanh_cy = cy.tanh()
    gcy = torch.zeros_like(cy) if grad_cy is None else grad_cy.clone()
    go = torch.zeros_like(cy)
    if grad_hy is not None:
        gcy = gcy + grad_hy * o * (1 - tanh_cy * tanh_cy)
        go = grad_hy * tanh_cy
    grad_gates = torch.cat([gcy * g * i * (1 - i), gcy * cx * f * (1 - f), gcy * i * (1 - g * g),
                            go * o * (1 - o)], dim=1)
    grad_bias = grad_gates.sum(0) if has_bias else None
    return grad_gates, gcy * f, grad_bias


def gru_cell(func, args, kwargs):
    input_gates, hidden_gates, hx, input_bias, hidden_bias = (list(args) + [None] * 5)[:5]
    input_bias = kwargs.get("input_bias", input_bias)
    hidden_bias = kwargs.get("hidden_bias", hidden_bias)
    if input_bias is not None:
        input_gates, hidden_gates = input_gates + input_bias, hidden_gates + hidden_bias
    ir, iz, in_ = input_gates.chunk(3, dim=1)
    hr, hz, hn = hidden_gates.chunk(3, dim=1)
    r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    hy = (1 - z) * n + z * hx
    return hy, torch.cat([r, z, n, hx, hn], dim=1)


def gru_cell_backward(func, args, kwargs):
    grad_hy, workspace, has_bias = args
    r, z, n, hx, hn = workspace.chunk(5, dim=1)
    gn = grad_hy * (1 - z) * (1 - n * n)
    gz = grad_hy * (hx - n) * z * (1 - z)
    gr = gn * hn * r * (1 - r)
    grad_input = torch.cat([gr, gz, gn], dim=1)
    grad_hidden = torch.cat([gr, gz, gn * r], dim=1)
    grad_hx = grad_hy * z
    if has_bias:
        return grad_input, grad_hidden, grad_hx, grad_input.sum(0), grad_hidden.sum(0)
    return grad_input, grad_hidden, grad_hx, None, None
