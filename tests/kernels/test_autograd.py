"""Gradients through the simulated kernels equal the reference's (backward recomputes the reference)."""

from __future__ import annotations

import porter.kernels as K
import pytest
import torch

pytestmark = pytest.mark.usefixtures("nki_sim")


def _grads(fn, tensors):
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in tensors]
    out = fn(*leaves)
    torch.manual_seed(0)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    return out.detach(), [t.grad for t in leaves]


CASES = {
    "rmsnorm": (lambda x, w: K.rms_norm(x, w), lambda x, w: K.rms_norm_reference(x, w),
                lambda: (torch.randn(130, 40), torch.randn(40))),
    "layernorm": (lambda x, w, b: K.layer_norm(x, w, b), lambda x, w, b: K.layer_norm_reference(x, w, b),
                  lambda: (torch.randn(5, 33), torch.randn(33), torch.randn(33))),
    "softmax": (K.softmax, K.softmax_reference, lambda: (torch.randn(7, 19),)),
    "swiglu": (K.swiglu, K.swiglu_reference, lambda: (torch.randn(3, 10), torch.randn(3, 10))),
    "geglu": (K.geglu, K.geglu_reference, lambda: (torch.randn(3, 10), torch.randn(3, 10))),
    "rotary": (lambda x: K.apply_rotary(x, *K.rotary_tables(9, 8)),
               lambda x: K.rotary_reference(x, *K.rotary_tables(9, 8)), lambda: (torch.randn(1, 2, 9, 8),)),
    "matmul": (K.matmul, K.matmul_reference, lambda: (torch.randn(6, 20), torch.randn(20, 7), torch.randn(7))),
    "linear": (K.linear, K.linear_reference, lambda: (torch.randn(6, 20), torch.randn(7, 20), torch.randn(7))),
    "attention": (lambda q, k, v: K.attention(q, k, v, causal=True),
                  lambda q, k, v: K.attention_reference(q, k, v, causal=True),
                  lambda: (torch.randn(1, 4, 20, 16), torch.randn(1, 2, 20, 16), torch.randn(1, 2, 20, 16))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_matches_reference(name):
    fn, ref, make = CASES[name]
    torch.manual_seed(1)
    tensors = make()
    K.reset_dispatch_counts()
    with K.simulate():
        out, grads = _grads(fn, tensors)
    assert K.dispatch_counts(name).get("simulate", 0) == 1, K.dispatch_counts(name)
    ref_out, ref_grads = _grads(ref, tensors)
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-4)
    for g, rg in zip(grads, ref_grads, strict=True):
        assert g is not None
        torch.testing.assert_close(g, rg, rtol=1e-5, atol=1e-6)


def test_module_parameters_receive_gradients():
    torch.manual_seed(0)
    norm = K.RMSNorm(24)
    lin = K.Linear(24, 10)
    x = torch.randn(4, 24, requires_grad=True)
    with K.simulate():
        y = lin(norm(x))
    y.square().sum().backward()
    assert norm.weight.grad is not None and lin.weight.grad is not None and lin.bias.grad is not None
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_no_grad_inputs_skip_autograd_function():
    x = torch.randn(3, 8)
    with K.simulate():
        y = K.softmax(x)
    assert y.grad_fn is None
