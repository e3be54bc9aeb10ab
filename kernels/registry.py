"""The kernel registry: one ``KernelSpec`` per kernel, filled in by the kernel modules as they are imported.

A spec names the kernel, its ``@nki.jit`` function(s) (imported lazily: ``spec.nki_kernels()`` needs ``nki``), its
PyTorch reference, the launcher that adapts torch tensors to the kernel's layout, a grid of test cases and the
tolerance per dtype. ``porter kernels test`` and tests/kernels run every case in the simulator against the
reference; ``check_case`` is the comparison both use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DTYPES = ("float32", "bfloat16")

# (rtol, atol) per dtype: fp32 kernels agree with the fp32 reference to rounding; bf16 outputs carry bf16 rounding
# of the result (2^-8 relative) plus bf16 operands in matmuls.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float32": (1e-5, 1e-5),
    "bfloat16": (2e-2, 2e-2),
}


@dataclass(frozen=True)
class Case:
    """One point of a kernel's test grid: shape parameters and options, passed to the spec's ``make_inputs``."""

    label: str
    params: dict[str, Any]


@dataclass
class KernelSpec:
    name: str
    summary: str
    device_module: str  # module under porter.kernels.device holding the @nki.jit functions
    kernel_names: tuple[str, ...]
    reference: Callable[..., Any]
    launch: Callable[..., Any]  # launch(call, *tensors, **params)
    make_inputs: Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]  # (case params, torch dtype, generator)
    cases: tuple[Case, ...]
    torch_function: Callable[..., Any] | None = None
    dtypes: tuple[str, ...] = DTYPES
    tolerances: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    bench_case: Case | None = None

    def nki_kernels(self) -> dict[str, Any]:
        """The ``@nki.jit`` kernels by name (imports ``nki``: the Neuron SDK, or porter's simulator if installed)."""
        module = importlib.import_module(f"{__package__}.device.{self.device_module}")
        return {name: getattr(module, name) for name in self.kernel_names}

    @property
    def nki_kernel(self) -> Any:
        """The main ``@nki.jit`` kernel (the first of ``kernel_names``)."""
        return self.nki_kernels()[self.kernel_names[0]]

    def tolerance(self, dtype: str) -> tuple[float, float]:
        return self.tolerances.get(dtype, DEFAULT_TOLERANCES[dtype])

    def inputs(self, case: Case, dtype: str, seed: int = 0) -> tuple[tuple[Any, ...], dict[str, Any]]:
        import torch

        generator = torch.Generator().manual_seed(seed)
        return self.make_inputs(case.params, getattr(torch, dtype), generator)


_REGISTRY: dict[str, KernelSpec] = {}


def register(spec: KernelSpec) -> KernelSpec:
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> KernelSpec:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown kernel {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_specs() -> list[KernelSpec]:
    _load_all()
    return list(_REGISTRY.values())


def names() -> list[str]:
    return [spec.name for spec in all_specs()]


def _load_all() -> None:
    importlib.import_module(__package__)  # the package imports every kernel module


# ------------------------------------------------------------------------------------------------- comparisons

@dataclass
class CaseResult:
    kernel: str
    case: str
    dtype: str
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    passed: bool
    error: str | None = None
    sim_seconds: float | None = None
    ref_seconds: float | None = None


def compare(actual: Any, expected: Any, rtol: float, atol: float) -> tuple[float, float, bool]:
    """(max |a - e|, max |a - e| / max(|e|, atol), all(|a - e| <= atol + rtol * |e|)) in fp32; NaN fails."""
    import torch

    a = actual.detach().float().cpu()
    e = expected.detach().float().cpu()
    if a.shape != e.shape:
        raise ValueError(f"shape mismatch: kernel {tuple(a.shape)} vs reference {tuple(e.shape)}")
    if a.numel() == 0:
        return 0.0, 0.0, True
    diff = (a - e).abs()
    if torch.isnan(diff).any():
        return float("nan"), float("nan"), False
    max_abs = float(diff.max())
    max_rel = float((diff / e.abs().clamp_min(max(atol, 1e-12))).max())
    passed = bool((diff <= atol + rtol * e.abs()).all())
    return max_abs, max_rel, passed


def check_case(spec: KernelSpec, case: Case, dtype: str, seed: int = 0, timed: bool = False) -> CaseResult:
    """Run ``case`` in the simulator and against the reference; never raises for kernel failures."""
    import time

    from . import _runtime

    rtol, atol = spec.tolerance(dtype)
    try:
        tensors, params = spec.inputs(case, dtype, seed)
        t0 = time.perf_counter()
        expected = spec.reference(*tensors, **params)
        t1 = time.perf_counter()
        actual = _runtime.run_simulated(spec.name, spec.launch, tensors, params)
        t2 = time.perf_counter()
        max_abs, max_rel, passed = compare(actual, expected, rtol, atol)
        if actual.dtype != expected.dtype:
            return CaseResult(spec.name, case.label, dtype, max_abs, max_rel, rtol, atol, False,
                              f"dtype mismatch: kernel {actual.dtype} vs reference {expected.dtype}")
        return CaseResult(spec.name, case.label, dtype, max_abs, max_rel, rtol, atol, passed,
                          sim_seconds=(t2 - t1) if timed else None, ref_seconds=(t1 - t0) if timed else None)
    except Exception as exc:  # noqa: BLE001  (a failing kernel is a result, not a crash)
        return CaseResult(spec.name, case.label, dtype, float("nan"), float("nan"), rtol, atol, False,
                          f"{type(exc).__name__}: {exc}")
