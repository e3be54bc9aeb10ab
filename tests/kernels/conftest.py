"""Shared fixtures for the kernel-library tests: the NKI simulator, hypothesis settings, comparisons."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "porter-kernels",
    max_examples=int(os.environ.get("PORTER_KERNELS_MAX_EXAMPLES", "15")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KERNEL_SETTINGS = settings.get_profile("porter-kernels")


@pytest.fixture(scope="session")
def nki_sim():
    """The ``nki`` module the kernels run on (porter's simulator when the Neuron SDK is absent)."""
    from porter.kernels import _runtime

    # porter's own simulator is always there: if it cannot load, that is a failure, not a skip
    return _runtime.ensure_nki(simulated=True)


@pytest.fixture(autouse=True)
def _no_simulate_env(monkeypatch):
    monkeypatch.delenv("PORTER_KERNELS_SIMULATE", raising=False)


def assert_matches(spec, tensors, params, dtype: str):
    """Run ``spec`` in the simulator on (tensors, params) and compare with its reference at its tolerance."""
    from porter.kernels import _runtime, registry

    expected = spec.reference(*tensors, **params)
    actual = _runtime.run_simulated(spec.name, spec.launch, tensors, params)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    rtol, atol = spec.tolerance(dtype)
    max_abs, max_rel, ok = registry.compare(actual, expected, rtol, atol)
    assert ok, f"{spec.name} {dtype}: max_abs={max_abs:.3g} max_rel={max_rel:.3g} (rtol={rtol}, atol={atol})"
    return actual, expected
