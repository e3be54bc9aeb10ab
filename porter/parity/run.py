"""One parity check: reference vs candidate on the same weights and inputs, on CPU, in fp32.

Reference: the original code, eager. Candidate: the ported code (NKI kernels simulated on CPU when
asked), or a compiled artifact. Optional: layer-by-layer comparison, goldens, and a three-way
check against a bf16 reference that tells precision loss from a porting bug.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from porter.graph.loader import build, example_inputs
from porter.parity.compare import Tolerances, compare_leaves, compare_outputs, flatten
from porter.parity.golden import load_golden, save_golden
from porter.parity.layers import compare_layers_detailed, first_divergence, record_outputs
from porter.parity.models import load_weights, parse_dtype, seeded_state


@dataclass
class ParityRequest:
    candidate_root: str
    candidate_factory: str
    inputs: str
    reference_root: str | None = None
    reference_factory: str | None = None
    inputs_root: str | None = None
    seed: int = 0
    rtol: float | None = None
    atol: float | None = None
    per_output: dict[str, list] = field(default_factory=dict)
    tolerance_sources: dict[str, str] = field(default_factory=dict)  # output name -> where its tolerance came from
    layers: bool = False
    save_golden: str | None = None
    save_only: bool = False  # store the golden, compare nothing (no candidate was given)
    golden: str | None = None
    three_way: bool = False
    simulate_kernels: bool = False
    onnx_artifact: str | None = None
    weights: str | None = None
    dtype: str | None = None

    def tolerances(self) -> Tolerances:
        return Tolerances(self.rtol, self.atol, {k: (v[0], v[1]) for k, v in self.per_output.items()})

    def check_tolerance_names(self, names: list[str]) -> None:
        """Every per-output tolerance must name an output of the reference: a typo would otherwise
        leave the output on the default tolerance without a word."""
        unknown = [k for k in self.per_output if k not in names]
        if unknown:
            listed = ", ".join(f"{k!r} ({self.tolerance_sources.get(k, 'tolerances')})" for k in unknown)
            raise UsageError(f"no output named {listed}; the model's outputs are: {', '.join(names) or '(none)'}")


class UsageError(ValueError):
    """A request that cannot be carried out as asked (not a failure of the user's code)."""


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


def _cast_inputs(args: tuple, kwargs: dict, dtype: torch.dtype) -> tuple[tuple, dict]:
    def cast(v):
        return v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def _summary(comparisons) -> dict:
    return {"passed": all(c.passed for c in comparisons), "outputs": [c.to_dict() for c in comparisons]}


def run_parity(request: ParityRequest) -> dict:
    if request.simulate_kernels:
        os.environ["PORTER_KERNELS"] = "simulate"
    tolerances = request.tolerances()
    dtype = parse_dtype(request.dtype)
    candidate_root = Path(request.candidate_root)
    result: dict[str, Any] = {"request": asdict(request)}
    if request.golden:
        args, kwargs, reference_leaves, weights, _info = load_golden(Path(request.golden))
        request.check_tolerance_names(list(reference_leaves))
        candidate = build(candidate_root, request.candidate_factory, request.seed)
        candidate.load_state_dict(weights)
        if dtype is not None:
            candidate.to(dtype)
            args, kwargs = _cast_inputs(args, kwargs, dtype)
        with torch.no_grad():
            output = candidate(*args, **kwargs)
        comparisons = compare_leaves(reference_leaves, dict(flatten(output)), tolerances)
        result.update(_summary(comparisons), mode="golden", candidate="eager (ported code)")
        return result

    reference_root = Path(request.reference_root or request.candidate_root)
    reference = build(reference_root, request.reference_factory or request.candidate_factory, request.seed)
    # One state_dict for both models: the weights file when the entrypoint names one, else the
    # reference factory's seeded initialisation (uninitialised values replaced).
    state = load_weights(Path(request.weights)) if request.weights else seeded_state(reference, request.seed)
    reference.load_state_dict(state)
    args, kwargs = example_inputs(Path(request.inputs_root or reference_root), request.inputs, request.seed)
    if dtype is not None:
        reference.to(dtype)
        args, kwargs = _cast_inputs(args, kwargs, dtype)

    if request.layers:
        ref_out, ref_layers = record_outputs(reference, args, kwargs)
    else:
        with torch.no_grad():
            ref_out = reference(*args, **kwargs)
        ref_layers = []
    output_names = [name for name, _ in flatten(ref_out)]
    request.check_tolerance_names(output_names)

    if request.save_golden:
        save_golden(Path(request.save_golden), args, kwargs, ref_out, state,
                    {"factory": request.reference_factory or request.candidate_factory, "seed": request.seed})
        result["golden_saved"] = request.save_golden
    if request.save_only:
        result.update(passed=None, outputs=[], golden_outputs=output_names, mode="save-golden",
                      candidate="none (golden saved, nothing compared)")
        return result

    if request.onnx_artifact:
        from porter.compile.backends import run_onnx

        if kwargs:
            raise ValueError("a compiled ONNX candidate takes positional example inputs only")
        onnx_out = run_onnx(Path(request.onnx_artifact), args)
        # ONNX returns the reference's tensor leaves flattened, in order: match them up by position.
        ref_leaves = {name: value for name, value in flatten(ref_out) if isinstance(value, torch.Tensor)}
        cand_leaves = dict(zip(ref_leaves, onnx_out, strict=False))
        for extra in range(len(ref_leaves), len(onnx_out)):
            cand_leaves[f"onnx_output[{extra}]"] = onnx_out[extra]
        comparisons = compare_leaves(ref_leaves, cand_leaves, tolerances)
        result.update(_summary(comparisons), mode="compiled", candidate=f"onnxruntime ({request.onnx_artifact})")
        return result

    candidate = build(candidate_root, request.candidate_factory, request.seed)
    candidate.load_state_dict(state)
    if dtype is not None:
        candidate.to(dtype)
    if request.layers:
        cand_out, cand_layers = record_outputs(candidate, args, kwargs)
    else:
        with torch.no_grad():
            cand_out = candidate(*args, **kwargs)
    comparisons = compare_outputs(ref_out, cand_out, tolerances)
    result.update(_summary(comparisons), mode="eager",
                  candidate="ported code" + (" with NKI kernels simulated" if request.simulate_kernels else ""))
    if request.layers:
        layers = compare_layers_detailed(ref_layers, cand_layers, tolerances)
        result["layers"] = [{"module": name, "passed": all(c.passed for c in cs), "inputs_match": inputs_match,
                             "max_abs": max((c.max_abs for c in cs), default=0.0)}
                            for name, cs, inputs_match in layers]
        result["first_divergence"] = first_divergence(layers)
    if request.three_way:
        result["three_way"] = _three_way(reference, args, kwargs, ref_out, comparisons)
    return result


def _three_way(reference, args, kwargs, ref_out, candidate_comparisons) -> dict:
    """fp32 reference vs bf16 reference vs candidate: is the candidate's error bf16-sized?"""
    low = copy.deepcopy(reference).to(torch.bfloat16)
    low_args, low_kwargs = _cast_inputs(args, kwargs, torch.bfloat16)
    with torch.no_grad():
        low_out = _to_float32(low(*low_args, **low_kwargs))
    precision = compare_outputs(ref_out, low_out, Tolerances())
    verdicts = []
    for cand, prec in zip(candidate_comparisons, precision, strict=False):
        if cand.passed:
            verdict = "match"
        elif cand.max_abs <= max(prec.max_abs, 1e-12):
            verdict = "precision loss (within the bf16 reference's error)"
        else:
            verdict = "porting bug (beyond the bf16 reference's error)"
        verdicts.append({"output": cand.name, "candidate_max_abs": cand.max_abs,
                         "bf16_reference_max_abs": prec.max_abs, "verdict": verdict})
    return {"outputs": verdicts}
