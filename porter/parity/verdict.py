"""The three-run verdict (AWS's porting guidance): is the candidate's error the size the lower
precision itself causes, or bigger?

    ratio = ‖candidate − reference_fp32‖_F / ‖reference_lowp − reference_fp32‖_F

about 1: the candidate loses what the precision loses; ≤ 1.2 pass; up to 2 marginal (fails unless
allowed); above, a bug. Without an fp32 run, the reference at the target precision is the yardstick
and the reference on inputs perturbed by the dtype's epsilon the baseline. A norm hides outliers, so
each output also carries its error distributions (quantiles and a histogram) for the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from porter.parity.compare import OutputComparison, compare_tensors, default_tolerance, flatten

PASS_RATIO = 1.2
MARGINAL_RATIO = 2.0
QUANTILES = 41
BINS = 30


@dataclass(frozen=True)
class Thresholds:
    passing: float = PASS_RATIO
    marginal: float = MARGINAL_RATIO
    allow_marginal: bool = False

    def grade(self, ratio: float) -> str:
        if ratio <= self.passing:
            return "pass"
        return "marginal" if ratio <= self.marginal else "fail"


def _frobenius(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().to(torch.float64) - b.detach().to(torch.float64)).norm())


def distribution(reference: torch.Tensor, candidate: torch.Tensor, baseline: torch.Tensor | None) -> dict:
    """Signed errors of the candidate (and the baseline) against the reference: matched quantiles
    for a QQ plot and a histogram over shared bins."""
    ref = reference.detach().to(torch.float64).flatten()
    errors = {"candidate": candidate.detach().to(torch.float64).flatten() - ref}
    if baseline is not None:
        errors["baseline"] = baseline.detach().to(torch.float64).flatten() - ref
    errors = {k: v[torch.isfinite(v)][: 2**22] for k, v in errors.items()}
    probabilities = torch.linspace(0, 1, QUANTILES, dtype=torch.float64)
    out: dict[str, Any] = {"probabilities": probabilities.tolist()}
    finite = [v for v in errors.values() if v.numel()]
    if not finite:
        return out
    low = min(float(v.min()) for v in finite)
    high = max(float(v.max()) for v in finite)
    if high <= low:
        high = low + 1e-12
    out["bins"] = torch.linspace(low, high, BINS + 1, dtype=torch.float64).tolist()
    for key, values in errors.items():
        if values.numel():
            out[f"{key}_quantiles"] = torch.quantile(values, probabilities).tolist()
            out[f"{key}_histogram"] = torch.histc(values, bins=BINS, min=low, max=high).tolist()
    return out


def ratio_verdicts(reference: Any, candidate: Any, baseline: Any, target: torch.dtype,
                   thresholds: Thresholds) -> tuple[list[OutputComparison], dict[str, dict]]:
    """Per output: the candidate-vs-reference metrics, with `passed` decided by the error ratio.

    Integer and bool outputs, and outputs where the baseline is exact (the lower precision changes
    nothing, so there is no yardstick), fall back to the tolerance check at the target dtype's
    torch.testing defaults."""
    ref_leaves, cand_leaves, base_leaves = dict(flatten(reference)), dict(flatten(candidate)), dict(flatten(baseline))
    comparisons, distributions = [], {}
    for name, ref in ref_leaves.items():
        cand = cand_leaves.get(name)
        if not isinstance(ref, torch.Tensor) or not isinstance(cand, torch.Tensor):
            same = cand == ref if not isinstance(cand, torch.Tensor) else False
            comparisons.append(OutputComparison(name=name, passed=bool(same), verdict="pass" if same else "fail",
                                                problem="" if same else f"{cand!r} != reference {ref!r}"))
            continue
        rtol, atol = default_tolerance(target) if ref.is_floating_point() else (0.0, 0.0)
        comparison = compare_tensors(name, ref, cand, rtol, atol)
        base = base_leaves.get(name)
        if comparison.problem.startswith("shape") or not ref.is_floating_point() or not isinstance(base, torch.Tensor):
            comparison.verdict = "pass" if comparison.passed else "fail"
            comparisons.append(comparison)
            continue
        comparison.candidate_error = _frobenius(cand, ref)
        comparison.baseline_error = _frobenius(base, ref)
        comparison.baseline_max_abs = float((base.double() - ref.double()).abs().nan_to_num(float("inf")).max()) \
            if ref.numel() else 0.0
        if comparison.candidate_error != comparison.candidate_error:  # NaN: a non-finite value appeared
            comparison.ratio = float("inf")
        elif comparison.baseline_error == 0.0:
            comparison.ratio = 0.0 if comparison.candidate_error == 0.0 else float("inf")
        else:
            comparison.ratio = comparison.candidate_error / comparison.baseline_error
        if comparison.baseline_error == 0.0 and comparison.candidate_error > 0.0:
            # no yardstick: the tolerance check at the target dtype decides
            comparison.verdict = "pass" if comparison.passed else "fail"
            comparison.problem = comparison.problem or "the baseline is exact here: judged by the tolerance"
        else:
            comparison.verdict = thresholds.grade(comparison.ratio)
            comparison.passed = comparison.verdict == "pass" or (
                comparison.verdict == "marginal" and thresholds.allow_marginal)
            if comparison.verdict != "pass":
                comparison.problem = (f"error {comparison.ratio:.3g}x the {target_name(target)} baseline's "
                                      f"({comparison.verdict})")
        comparisons.append(comparison)
        distributions[name] = distribution(ref, cand, base)
    for name in cand_leaves.keys() - ref_leaves.keys():
        comparisons.append(OutputComparison(name=name, passed=False, verdict="fail", problem="not in the reference"))
    return comparisons, distributions


def target_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def overall(comparisons: list[OutputComparison]) -> str:
    """pass, marginal or fail: the worst output's."""
    grades = {c.verdict or ("pass" if c.passed else "fail") for c in comparisons}
    return "fail" if "fail" in grades else "marginal" if "marginal" in grades else "pass"
