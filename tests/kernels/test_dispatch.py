"""Dispatch: CPU tensors run the reference by default, the simulated NKI kernel under simulate() or
PORTER_KERNELS_SIMULATE=1; Neuron device tensors select the NKI kernel."""

from __future__ import annotations

import subprocess
import sys
import types

import porter.kernels as K
import pytest
import torch
from porter.kernels import _runtime


def test_cpu_default_runs_reference():
    K.reset_dispatch_counts()
    x = torch.randn(4, 16)
    y = K.softmax(x)
    assert K.dispatch_counts("softmax") == {"reference": 1}
    torch.testing.assert_close(y, torch.softmax(x, -1))


def test_simulate_context_runs_nki_kernel(nki_sim):
    K.reset_dispatch_counts()
    x = torch.randn(4, 16)
    with K.simulate():
        y = K.rms_norm(x, torch.ones(16))
    assert K.dispatch_counts("rmsnorm") == {"simulate": 1}
    torch.testing.assert_close(y, K.rms_norm_reference(x, torch.ones(16)), rtol=1e-5, atol=1e-5)
    stats = K.last_run_stats("rmsnorm")
    assert stats is not None, "the simulator reported no run statistics"
    instructions = stats.as_dict()["instructions"] if hasattr(stats, "as_dict") else stats["instructions"]
    assert sum(instructions.values()) > 0


def test_simulate_false_overrides_env(monkeypatch, nki_sim):
    monkeypatch.setenv("PORTER_KERNELS_SIMULATE", "1")
    K.reset_dispatch_counts()
    x = torch.randn(2, 8)
    K.swiglu(x, x)
    with K.simulate(False):
        K.swiglu(x, x)
    assert K.dispatch_counts("swiglu") == {"simulate": 1, "reference": 1}


def test_env_var_enables_simulation(monkeypatch, nki_sim):
    monkeypatch.setenv("PORTER_KERNELS_SIMULATE", "1")
    K.reset_dispatch_counts()
    q = torch.randn(1, 2, 5, 8)
    K.attention(q, q, q, causal=True)
    assert K.dispatch_counts("attention") == {"simulate": 1}
    monkeypatch.setenv("PORTER_KERNELS_SIMULATE", "0")
    K.attention(q, q, q)
    assert K.dispatch_counts("attention") == {"simulate": 1, "reference": 1}


def test_modules_dispatch_like_functions(nki_sim):
    K.reset_dispatch_counts()
    x = torch.randn(3, 12)
    with K.simulate():
        K.LayerNorm(12)(x)
        K.SwiGLU()(x)
        K.GeGLU("tanh")(x)
        K.Softmax()(x)
    counts = K.dispatch_counts()
    for name in ("layernorm", "swiglu", "geglu", "softmax"):
        assert counts[(name, "simulate")] == 1


def _fake(device_type: str):
    return types.SimpleNamespace(device=types.SimpleNamespace(type=device_type))


@pytest.mark.parametrize("device_type", ["neuron", "xla"])
def test_neuron_tensors_choose_nki(device_type):
    assert _runtime.choose_path((_fake(device_type), None)) == _runtime.PATH_NKI


def test_other_devices_choose_reference_even_when_simulating():
    with K.simulate():
        assert _runtime.choose_path((_fake("cuda"),)) == _runtime.PATH_REFERENCE
        assert _runtime.choose_path((torch.zeros(1),)) == _runtime.PATH_SIMULATE
    assert _runtime.choose_path((torch.zeros(1),)) == _runtime.PATH_REFERENCE


def test_importing_the_library_does_not_import_nki():
    code = ("import sys, torch, porter.kernels as K; K.softmax(torch.randn(2, 3)); "
            "assert 'nki' not in sys.modules, 'nki imported'; "
            "assert not any(m.startswith('porter.kernels.device') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_kernel_modules_expose_the_nki_kernel(nki_sim):
    # `porter.kernels.attention` is the function (the package re-exports it); the module is reached by its
    # dotted path, whose module-level __getattr__ imports the @nki.jit kernel on first access.
    from porter.kernels.attention import attention_masked_kernel
    from porter.kernels.rmsnorm import rmsnorm_kernel

    assert callable(rmsnorm_kernel)
    assert callable(attention_masked_kernel)
    assert rmsnorm_kernel is sys.modules["porter.kernels.device.norms"].rmsnorm_kernel


def test_fully_masked_rows_stay_finite(nki_sim):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 2, 9, 8), torch.randn(2, 2, 12, 8), torch.randn(2, 2, 12, 8)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1] = False  # batch row 1 attends to nothing
    with K.simulate():
        out = K.attention(q, k, v, attention_mask=mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, K.attention_reference(q, k, v, attention_mask=mask), rtol=1e-2, atol=1e-2)


def test_float_mask_is_additive_bias(nki_sim):
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    bias = torch.randn(1, 7)
    with K.simulate():
        out = K.attention(q, k, v, attention_mask=bias, causal=True)
    torch.testing.assert_close(out, K.attention_reference(q, k, v, attention_mask=bias, causal=True),
                               rtol=1e-4, atol=1e-5)
