"""Comparing a candidate's outputs with a reference's, Polygraphy-style.

Outputs may be nested tuples, lists, dicts and dataclasses of tensors; each leaf is compared on
its own, with dtype-aware default tolerances (torch.testing's), optionally overridden globally or
per output. Each comparison reports max abs error with its index, max rel error, mean abs error,
p99 abs error, cosine similarity, the share of mismatching elements, NaN/Inf disagreement, and the
smallest atol (at the given rtol) that would have passed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

# torch.testing.assert_close defaults (rtol, atol) per dtype.
DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


def default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol); exact for integer and bool outputs."""
    return DEFAULT_TOLERANCES.get(dtype, (0.0, 0.0))


def flatten(value: Any, prefix: str = "output") -> Iterator[tuple[str, Any]]:
    """Leaves of a nested output with stable names: output[0], output.logits, output['k']."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (int, float, bool, str)):
        yield prefix, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from flatten(getattr(value, f.name), f"{prefix}.{f.name}")
    elif isinstance(value, dict):
        for key in value:
            yield from flatten(value[key], f"{prefix}[{key!r}]")
    elif isinstance(value, (tuple, list)):
        # namedtuples carry field names
        names = getattr(value, "_fields", None)
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{names[i]}" if names else f"{prefix}[{i}]")
    else:
        raise TypeError(f"{prefix}: cannot compare a {type(value).__name__}")


@dataclass
class Tolerances:
    """Global overrides and per-output overrides (keys are output names as `flatten` gives them)."""

    rtol: float | None = None
    atol: float | None = None
    per_output: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def for_output(self, name: str, dtype: torch.dtype) -> tuple[float, float]:
        rtol, atol = default_tolerance(dtype)
        if self.rtol is not None:
            rtol = self.rtol
        if self.atol is not None:
            atol = self.atol
        if name in self.per_output:
            r, a = self.per_output[name]
            rtol = r if r is not None else rtol
            atol = a if a is not None else atol
        return rtol, atol


@dataclass
class OutputComparison:
    name: str
    passed: bool
    shape: tuple[int, ...] = ()
    dtype: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    max_abs: float = 0.0
    max_abs_index: tuple[int, ...] = ()
    max_rel: float = 0.0
    mean_abs: float = 0.0
    p99_abs: float = 0.0
    cosine: float = 1.0
    mismatch_percent: float = 0.0
    reference_nonfinite: int = 0
    candidate_nonfinite: int = 0
    required_atol: float = 0.0
    problem: str = ""
    # the three-run verdict (empty in the tolerance mode)
    verdict: str = ""  # pass, marginal or fail
    ratio: float | None = None  # ‖cand − ref‖ / ‖baseline − ref‖
    candidate_error: float | None = None  # ‖cand − ref‖_F
    baseline_error: float | None = None  # ‖baseline − ref‖_F
    baseline_max_abs: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def compare_tensors(name: str, reference: torch.Tensor, candidate: torch.Tensor, rtol: float,
                    atol: float) -> OutputComparison:
    result = OutputComparison(name=name, passed=False, shape=tuple(reference.shape),
                              dtype=str(reference.dtype).replace("torch.", ""), rtol=rtol, atol=atol)
    if tuple(candidate.shape) != tuple(reference.shape):
        result.problem = f"shape {tuple(candidate.shape)} != reference {tuple(reference.shape)}"
        return result
    if reference.is_complex() or candidate.is_complex():
        # Compare real and imaginary parts (a cast to float64 would silently drop the imaginary part).
        reference = torch.view_as_real(reference.detach().to(torch.complex128))
        candidate = torch.view_as_real(candidate.detach().to(torch.complex128))
    ref = reference.detach().to("cpu", torch.float64)
    cand = candidate.detach().to("cpu", torch.float64)
    ref_finite, cand_finite = torch.isfinite(ref), torch.isfinite(cand)
    result.reference_nonfinite = int((~ref_finite).sum())
    result.candidate_nonfinite = int((~cand_finite).sum())
    # NaN matches NaN and inf matches the same inf; anything else non-finite is a mismatch.
    same_nonfinite = (torch.isnan(ref) & torch.isnan(cand)) | (torch.isinf(ref) & (ref == cand))
    both_finite = ref_finite & cand_finite
    diff = torch.where(both_finite, (ref - cand).abs(), torch.zeros_like(ref))
    nonfinite_mismatch = ~both_finite & ~same_nonfinite
    if ref.numel() == 0:
        result.passed = True
        return result
    flat = diff.flatten()
    worst = int(torch.argmax(flat))
    result.max_abs = float(flat[worst])
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), ref.shape))
    result.max_abs_index = index[:len(result.shape)]  # complex: drop the (real, imag) axis
    rel = diff / ref.abs().clamp_min(torch.finfo(torch.float64).tiny)
    rel = torch.where(both_finite & (ref != 0), rel, torch.zeros_like(rel))
    result.max_rel = float(rel.max())
    result.mean_abs = float(flat.mean())
    result.p99_abs = float(torch.quantile(flat[: 2**24], 0.99)) if flat.numel() > 1 else result.max_abs
    r, c = ref[both_finite], cand[both_finite]
    denominator = float(r.norm() * c.norm())
    result.cosine = float((r * c).sum()) / denominator if denominator > 0 else (1.0 if float(r.norm()) == float(
        c.norm()) else 0.0)
    allowed = atol + rtol * ref.abs()
    mismatched = (both_finite & (diff > allowed)) | nonfinite_mismatch
    result.mismatch_percent = 100.0 * float(mismatched.sum()) / ref.numel()
    # The atol that would pass at this rtol: the largest excess over the relative part.
    excess = torch.where(both_finite, diff - rtol * ref.abs(), torch.zeros_like(diff))
    result.required_atol = max(0.0, float(excess.max()))
    if bool(nonfinite_mismatch.any()):
        result.required_atol = math.inf
        result.problem = f"{int(nonfinite_mismatch.sum())} NaN/Inf value(s) where the reference differs"
    result.passed = not bool(mismatched.any())
    return result


def compare_outputs(reference: Any, candidate: Any, tolerances: Tolerances | None = None) -> list[OutputComparison]:
    return compare_leaves(dict(flatten(reference)), dict(flatten(candidate)), tolerances)


def compare_leaves(ref_leaves: dict[str, Any], cand_leaves: dict[str, Any],
                   tolerances: Tolerances | None = None) -> list[OutputComparison]:
    tolerances = tolerances or Tolerances()
    results = []
    for name, ref in ref_leaves.items():
        if name not in cand_leaves:
            results.append(OutputComparison(name=name, passed=False, problem="missing from the candidate"))
            continue
        cand = cand_leaves[name]
        if isinstance(ref, torch.Tensor) and isinstance(cand, torch.Tensor):
            rtol, atol = tolerances.for_output(name, ref.dtype)
            results.append(compare_tensors(name, ref, cand, rtol, atol))
        elif isinstance(ref, torch.Tensor) or isinstance(cand, torch.Tensor):
            results.append(OutputComparison(name=name, passed=False, problem="tensor compared with a non-tensor"))
        else:
            results.append(OutputComparison(name=name, passed=ref == cand,
                                            problem="" if ref == cand else f"{cand!r} != reference {ref!r}"))
    for name in cand_leaves.keys() - ref_leaves.keys():
        results.append(OutputComparison(name=name, passed=False, problem="not in the reference"))
    return results
