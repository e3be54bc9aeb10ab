"""Shared helpers for the kernel-swap tests: run a shim on the reference path or in the NKI simulator and compare
its forward and backward with the pure-PyTorch originals (``originals.py``)."""

from __future__ import annotations

import contextlib

import pytest

torch = pytest.importorskip("torch")

PATHS = ("reference", "simulate")


@pytest.fixture(autouse=True)
def _no_simulate_env(monkeypatch):
    monkeypatch.delenv("PORTER_KERNELS_SIMULATE", raising=False)


class Runner:
    """Runs code on one dispatch path and checks the expected kernels actually took it."""

    def __init__(self, path: str):
        self.path = path

    @contextlib.contextmanager
    def active(self, kernels=()):
        import porter.kernels as K

        K.reset_dispatch_counts()
        with K.simulate(self.path == "simulate"):
            yield
        for name in kernels:
            counts = K.dispatch_counts(name)
            assert counts.get(self.path, 0) > 0, f"kernel {name!r} did not run on the {self.path} path: {counts}"


@pytest.fixture(params=PATHS)
def path(request):
    return Runner(request.param)


def leaves(tensors):
    return [t.detach().clone().requires_grad_(t.is_floating_point()) if isinstance(t, torch.Tensor) else t
            for t in tensors]


def forward_backward(fn, inputs, seed: int = 1):
    """Outputs of ``fn(*inputs)`` and the gradients of a fixed random projection of them w.r.t. the float inputs."""
    xs = leaves(inputs)
    out = fn(*xs)
    outs = out if isinstance(out, tuple | list) else (out,)
    gen = torch.Generator().manual_seed(seed)
    loss = 0.0
    for o in outs:
        if isinstance(o, torch.Tensor) and o.is_floating_point() and o.requires_grad:
            loss = loss + (o.float() * torch.randn(o.shape, generator=gen)).sum()
    if isinstance(loss, torch.Tensor):
        loss.backward()
    grads = [x.grad if isinstance(x, torch.Tensor) and x.requires_grad else None for x in xs]
    return [o.detach() if isinstance(o, torch.Tensor) else o for o in outs], grads


def assert_close(actual, expected, atol, rtol, what):
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    torch.testing.assert_close(actual.float(), expected.float(), atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}")


def check_swap(runner: Runner, shim, original, inputs, kernels=(), atol=2e-5, rtol=2e-4):
    """shim(*inputs) on ``runner``'s path vs original(*inputs): outputs and input gradients."""
    with runner.active(kernels):
        s_out, s_grad = forward_backward(shim, inputs)
    o_out, o_grad = forward_backward(original, inputs)
    assert len(s_out) == len(o_out), f"{len(s_out)} outputs vs {len(o_out)}"
    for i, (a, b) in enumerate(zip(s_out, o_out, strict=True)):
        assert_close(a, b, atol, rtol, f"[{runner.path}] output {i}")
    for i, (a, b) in enumerate(zip(s_grad, o_grad, strict=True)):
        if b is None:
            continue
        assert a is not None, f"[{runner.path}] input {i}: no gradient from the shim"
        assert_close(a, b, atol, rtol, f"[{runner.path}] grad of input {i}")
    return s_out
