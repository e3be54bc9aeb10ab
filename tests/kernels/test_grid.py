"""The registry's case grid (what `porter kernels test` runs) passes in the simulator."""

from __future__ import annotations

import pytest
from porter.kernels import registry

pytestmark = pytest.mark.usefixtures("nki_sim")

GRID = [
    pytest.param(spec.name, case, dtype, id=f"{spec.name}-{case.label}-{dtype}")
    for spec in registry.all_specs()
    for case in spec.cases
    for dtype in spec.dtypes
]


@pytest.mark.parametrize(("name", "case", "dtype"), GRID)
def test_case_grid(name, case, dtype):
    spec = registry.get(name)
    result = registry.check_case(spec, case, dtype)
    assert result.error is None, result.error
    assert result.passed, result


def test_registry_lists_every_required_kernel():
    names = set(registry.names())
    assert {"rmsnorm", "layernorm", "softmax", "swiglu", "geglu", "rotary", "matmul", "linear",
            "attention"} <= names
    for spec in registry.all_specs():
        assert spec.cases, spec.name
        assert set(spec.dtypes) == {"float32", "bfloat16"}
        assert spec.tolerance("float32")[0] <= 1e-4
        assert spec.tolerance("bfloat16")[0] <= 2e-2


def test_nki_kernels_are_jit_functions(nki_sim):
    for spec in registry.all_specs():
        kernels = spec.nki_kernels()
        assert set(kernels) == set(spec.kernel_names)
        for kernel in kernels.values():
            assert callable(kernel)
