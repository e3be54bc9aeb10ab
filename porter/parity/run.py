"""One parity check: reference vs candidate on the same weights and inputs.

Reference: the original code, eager. Candidate: the ported code (NKI kernels simulated on CPU when
asked), a saved golden's outputs, or a compiled artifact. Two verdicts:

- tolerance: every output within rtol/atol of the reference's (exact comparisons, same precision);
- ratio (the default when the candidate runs at a lower precision than the reference): three runs,
  the reference in its precision, the reference at the target precision (or, without the former,
  on inputs perturbed by the target's epsilon) and the candidate at the target precision; see
  porter.parity.verdict.
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
from porter.parity.devices import emulated, label, module_to_cpu, placed, to_cpu
from porter.parity.golden import load_golden, save_golden
from porter.parity.layers import LayerComparison, blame, recording, rows_to_json
from porter.parity.models import load_weights, parse_dtype, seeded_state
from porter.parity.precision import (
    cast_inputs,
    cast_model,
    has_floating,
    is_lower,
    perturb_embeddings,
    perturbed,
    precision_context,
    to_float32,
)
from porter.parity.stages import StageError, stage
from porter.parity.verdict import Thresholds, distribution, overall, ratio_verdicts, target_name


@dataclass
class ParityRequest:
    candidate_root: str
    candidate_factory: str
    inputs: str
    reference_root: str | None = None
    reference_factory: str | None = None
    inputs_root: str | None = None
    model_name: str | None = None
    seed: int = 0
    rtol: float | None = None
    atol: float | None = None
    per_output: dict[str, list] = field(default_factory=dict)
    tolerance_sources: dict[str, str] = field(default_factory=dict)  # output name -> where its tolerance came from
    layers: bool = False
    save_golden: str | None = None
    save_only: bool = False  # store the golden, compare nothing (no candidate was given)
    golden: str | None = None
    three_way: bool = False  # the ratio verdict, at bfloat16 unless a lower candidate dtype is given
    simulate_kernels: bool = False
    onnx_artifact: str | None = None
    weights: str | None = None
    dtype: str | None = None  # both models run in it
    candidate_dtype: str | None = None  # the candidate's (target) precision
    verdict: str = "auto"  # auto, ratio or tolerance
    baseline: str = "auto"  # auto, fp32 or perturb
    precision_mode: str = "auto"  # auto, cast or autocast
    max_ratio: float = 1.2
    marginal_ratio: float = 2.0
    allow_marginal: bool = False
    candidate_device: str = "cpu"  # neuron (emulated) or cpu
    reference_device: str = "cpu"  # cpu or cuda (emulated)
    train_steps: int = 0  # training parity: this many optimizer steps on both sides
    optimizer: str | None = None  # pkg.module:factory (resolved in each root) or a torch.optim spec
    loss: str | None = None  # pkg.module:function, resolved in each root

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


def _summary(comparisons) -> dict:
    return {"passed": all(c.passed for c in comparisons), "outputs": [c.to_dict() for c in comparisons]}


def _forward(model, args, kwargs, *, name: str, porters: bool, mode: str = "cast",
             dtype: torch.dtype | None = None, on_call=None, device: str = "cpu"):
    """One run of a model, as a named stage, on its device; the output comes back on the CPU."""
    if device != "cpu":
        name, porters = f"{name} on {label(device)}", True
    with stage(name, porters), torch.no_grad(), placed(model, args, kwargs, device) as (model, args, kwargs), \
            precision_context(mode, dtype, device):
        if on_call is None:
            return to_cpu(model(*args, **kwargs))
        with recording(model, on_call):
            return to_cpu(model(*args, **kwargs))


def _build_on(device: str, root: Path, factory: str, seed: int) -> torch.nn.Module:
    """The model, built where its code expects to be (an original may call .cuda() in __init__),
    held on the CPU between runs."""
    if device == "cpu":
        return build(root, factory, seed)
    with emulated(device):
        return module_to_cpu(build(root, factory, seed))


def _load_state(model: torch.nn.Module, state: dict, source: str | None, side: str) -> None:
    """Load the one state_dict; one that does not fit the model is named with what is missing."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        where = f"weights file {source}" if source else "the reference's state_dict"
        detail = " ".join(str(exc).split())
        raise UsageError(f"{where} does not fit the {side} model: {detail}") from None


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def run_parity(request: ParityRequest) -> dict:
    if request.simulate_kernels:
        os.environ["PORTER_KERNELS"] = "simulate"
    result: dict[str, Any] = {"request": asdict(request), "model": request.model_name or request.candidate_factory}
    if request.golden:
        return _against_golden(request, result)

    dtype = parse_dtype(request.dtype)
    reference_root = Path(request.reference_root or request.candidate_root)
    reference = _build_on(request.reference_device, reference_root,
                          request.reference_factory or request.candidate_factory, request.seed)
    # One state_dict for both models: the weights file when the entrypoint names one, else the
    # reference factory's seeded initialisation (uninitialised values replaced).
    state = load_weights(Path(request.weights)) if request.weights else seeded_state(reference, request.seed)
    _load_state(reference, state, request.weights, "reference")
    with emulated(request.reference_device):  # an inputs function may put its tensors on the GPU
        args, kwargs = to_cpu(example_inputs(Path(request.inputs_root or reference_root), request.inputs,
                                             request.seed))
    if dtype is not None:
        cast_model(reference, dtype)
        args, kwargs = cast_inputs(args, kwargs, dtype)
    reference_dtype = dtype or _model_dtype(reference)
    target = parse_dtype(request.candidate_dtype)
    if request.three_way and (target is None or not is_lower(target, reference_dtype)):
        target = torch.bfloat16
    ratio_mode = request.verdict == "ratio" or request.three_way or (
        request.verdict == "auto" and target is not None and is_lower(target, reference_dtype))
    if ratio_mode and (target is None or not is_lower(target, reference_dtype)):
        raise UsageError(f"the ratio verdict needs a candidate dtype below the reference's "
                         f"({target_name(reference_dtype)}): pass --candidate-dtype bfloat16, for example")

    if request.save_golden or request.save_only or request.onnx_artifact:
        ref_out = _forward(reference, args, kwargs, name=f"reference ({target_name(reference_dtype)})",
                           porters=False, device=request.reference_device)
        request.check_tolerance_names([name for name, _ in flatten(ref_out)])
        if request.save_golden:
            save_golden(Path(request.save_golden), args, kwargs, ref_out, state,
                        {"factory": request.reference_factory or request.candidate_factory, "seed": request.seed})
            result["golden_saved"] = request.save_golden
        if request.save_only:
            result.update(passed=None, outputs=[], golden_outputs=[n for n, _ in flatten(ref_out)],
                          mode="save-golden", candidate="none (golden saved, nothing compared)")
            return result
        if request.onnx_artifact:
            return _against_onnx(request, result, ref_out, args, kwargs)

    candidate = build(Path(request.candidate_root), request.candidate_factory, request.seed)
    _load_state(candidate, state, request.weights, "candidate")
    if dtype is not None:
        cast_model(candidate, dtype)
    described = "ported code" + (" with NKI kernels simulated" if request.simulate_kernels else "") + (
        f" on {label(request.candidate_device)}" if request.candidate_device != "cpu" else "") + (
        f"; reference on {label(request.reference_device)}" if request.reference_device != "cpu" else "")
    result.update(mode="eager", candidate=described, reference_dtype=target_name(reference_dtype))
    if request.train_steps:
        _training(request, result, reference, candidate, args, kwargs)
    elif ratio_mode:
        _three_runs(request, result, reference, candidate, args, kwargs, reference_dtype, target)
    else:
        _tolerance_run(request, result, reference, candidate, args, kwargs, reference_dtype, target)
    return result


def _tolerance_run(request, result, reference, candidate, args, kwargs, reference_dtype, target) -> None:
    tolerances = request.tolerances()
    layers = LayerComparison(tolerances) if request.layers else None
    ref_out = _forward(reference, args, kwargs, name=f"reference ({target_name(reference_dtype)})", porters=False,
                       on_call=layers.record_reference if layers else None, device=request.reference_device)
    request.check_tolerance_names([name for name, _ in flatten(ref_out)])
    cand_args, cand_kwargs, cast_by_porter = args, kwargs, False
    if target is not None and target != reference_dtype:
        cast_model(candidate, target)
        cand_args, cand_kwargs = cast_inputs(args, kwargs, target)
        cast_by_porter = True
    cand_out = _forward(candidate, cand_args, cand_kwargs, porters=cast_by_porter,
                        name="candidate" + (f" at {target_name(target)}" if cast_by_porter else ""),
                        on_call=layers.compare("candidate") if layers else None, device=request.candidate_device)
    comparisons = compare_outputs(ref_out, cand_out, tolerances)
    cand_leaves = dict(flatten(cand_out))
    distributions = {name: distribution(ref, cand_leaves[name], None) for name, ref in flatten(ref_out)
                     if isinstance(ref, torch.Tensor) and ref.is_floating_point()
                     and isinstance(cand_leaves.get(name), torch.Tensor) and cand_leaves[name].shape == ref.shape}
    result.update(_summary(comparisons), verdict_mode="tolerance", distributions=distributions,
                  verdict="pass" if all(c.passed for c in comparisons) else "fail")
    if layers is not None:
        rows = layers.table()
        result["layers"] = rows_to_json(rows, ratio_threshold=None, dtype=target or reference_dtype)
        result["first_divergence"] = None if result["passed"] else blame(rows, dtype=target or reference_dtype)


def _three_runs(request, result, reference, candidate, args, kwargs, reference_dtype, target) -> None:
    """Reference (fp32), reference at the target precision, candidate at the target precision;
    or, with the perturbation baseline, the reference at the target precision twice."""
    thresholds = Thresholds(request.max_ratio, request.marginal_ratio, request.allow_marginal)
    layers = LayerComparison(request.tolerances()) if request.layers else None
    notes: list[str] = []
    baseline_kind = "perturb" if request.baseline == "perturb" else "fp32"
    ref_out = None
    if baseline_kind == "fp32":
        try:
            ref_out = _forward(reference, args, kwargs, name=f"reference ({target_name(reference_dtype)})",
                               porters=False, on_call=layers.record_reference if layers else None,
                               device=request.reference_device)
        except StageError as exc:
            if request.baseline != "auto":
                raise
            notes.append(f"no {target_name(reference_dtype)} run was possible ({exc.cause!r}): the reference at "
                         f"{target_name(target)} on inputs perturbed by its epsilon is the baseline")
            baseline_kind = "perturb"
            layers = LayerComparison(request.tolerances()) if request.layers else None
    modes = ["cast", "autocast"] if request.precision_mode == "auto" else [request.precision_mode]
    low_args, low_kwargs = cast_inputs(args, kwargs, target)
    for attempt, mode in enumerate(modes):
        low = cast_model(copy.deepcopy(reference), target) if mode == "cast" else copy.deepcopy(reference)
        run_args, run_kwargs = (low_args, low_kwargs) if mode == "cast" else (args, kwargs)
        try:
            if baseline_kind == "fp32":
                base_out = _forward(low, run_args, run_kwargs, name=f"reference at {target_name(target)} ({mode})",
                                    porters=True, mode=mode, dtype=target,
                                    on_call=layers.compare("baseline") if layers else None,
                                    device=request.reference_device)
            else:
                ref_out = _forward(low, run_args, run_kwargs, name=f"reference at {target_name(target)} ({mode})",
                                   porters=True, mode=mode, dtype=target,
                                   on_call=layers.record_reference if layers else None,
                                   device=request.reference_device)
                base_out = _perturbed_run(low, run_args, run_kwargs, target, mode, request.seed, layers,
                                          request.reference_device)
            break
        except StageError as exc:
            if attempt + 1 == len(modes):
                raise
            notes.append(f"the reference cast wholly to {target_name(target)} failed ({exc.op or 'no op'}: "
                         f"{type(exc.cause).__name__}); all {target_name(target)} runs use torch.autocast instead")
            if layers is not None and baseline_kind == "perturb":
                layers = LayerComparison(request.tolerances())
    request.check_tolerance_names([name for name, _ in flatten(ref_out)])
    if mode == "cast":
        cast_model(candidate, target)
    cand_out = _forward(candidate, run_args, run_kwargs, name=f"candidate at {target_name(target)} ({mode})",
                        porters=True, mode=mode, dtype=target,
                        on_call=layers.compare("candidate") if layers else None, device=request.candidate_device)
    comparisons, distributions = ratio_verdicts(to_float32(ref_out), to_float32(cand_out), to_float32(base_out),
                                                target, thresholds)
    grade = overall(comparisons)
    result.update(_summary(comparisons), verdict_mode="ratio", verdict=grade, target_dtype=target_name(target),
                  precision_mode=mode, distributions=distributions, notes=notes,
                  thresholds={"pass": thresholds.passing, "marginal": thresholds.marginal,
                              "allow_marginal": thresholds.allow_marginal},
                  baseline=(f"reference at {target_name(target)}" if baseline_kind == "fp32" else
                            f"reference at {target_name(target)} on inputs perturbed by its epsilon"),
                  yardstick=(f"reference ({target_name(reference_dtype)})" if baseline_kind == "fp32" else
                             f"reference at {target_name(target)}"))
    if layers is not None:
        rows = layers.table()
        result["layers"] = rows_to_json(rows, ratio_threshold=thresholds.passing, dtype=target)
        limit = thresholds.passing if grade == "marginal" else thresholds.marginal
        result["first_divergence"] = None if grade == "pass" else blame(rows, ratio_threshold=limit)


def _training(request: ParityRequest, result: dict, reference, candidate, args, kwargs) -> None:
    from porter.parity.training import (
        StepRecord,
        TrainingSetupError,
        compare_steps,
        describe,
        loss_function,
        optimizer_factory,
        train,
    )

    if not request.loss:
        raise TrainingSetupError("training parity needs a loss function: loss = \"pkg.module:function\" in the "
                                 "model table (called as loss(output, *inputs)) or --loss")
    if not request.optimizer:
        raise TrainingSetupError("training parity needs an optimizer: optimizer = \"pkg.module:factory\" in the "
                                 "model table (called with the model) or --optimizer, e.g. 'AdamW(lr=1e-3)'")
    roots = {"reference": Path(request.reference_root or request.candidate_root),
             "candidate": Path(request.candidate_root)}
    records: dict[str, list[StepRecord]] = {"reference": [], "candidate": []}
    devices = {"reference": request.reference_device, "candidate": request.candidate_device}
    for side, model in (("reference", reference), ("candidate", candidate)):
        with placed(model, args, kwargs, devices[side]) as (placed_model, placed_args, placed_kwargs):
            train(placed_model, optimizer_factory(request.optimizer, roots[side]),
                  loss_function(request.loss, roots[side]), placed_args, placed_kwargs, request.train_steps,
                  request.seed, side, lambda _step, record, side=side: records[side].append(record),
                  where=label(devices[side]) if devices[side] != "cpu" else "")
    rows, summary = compare_steps(records["reference"], records["candidate"], request.tolerances())
    result.update(_summary(rows), verdict_mode="tolerance", training=summary,
                  candidate=result["candidate"] + f", {request.train_steps} training steps")
    result["verdict"] = "pass" if result["passed"] else "fail"
    result["first_divergence"] = describe(summary)
    result["notes"] = summary["notes"]


def _perturbed_run(model, args, kwargs, target, mode, seed, layers, device):
    """The reference at the target precision on inputs perturbed by the target's epsilon: floating
    inputs directly, token inputs after the embedding."""
    generator = torch.Generator().manual_seed(seed + 1)
    name = f"reference at {target_name(target)} on perturbed inputs ({mode})"
    if has_floating((args, kwargs)):
        return _forward(model, perturbed(args, target, generator), perturbed(kwargs, target, generator), name=name,
                        porters=True, mode=mode, dtype=target, on_call=layers.compare("baseline") if layers else None,
                        device=device)
    with perturb_embeddings(model, target, seed + 1) as hooked:
        if not hooked:
            raise UsageError("the perturbation baseline needs floating inputs or an nn.Embedding to perturb after; "
                             "this model has neither")
        return _forward(model, args, kwargs, name=name, porters=True, mode=mode, dtype=target,
                        on_call=layers.compare("baseline") if layers else None, device=device)


def _against_golden(request: ParityRequest, result: dict) -> dict:
    dtype = parse_dtype(request.dtype)
    args, kwargs, reference_leaves, weights, _info = load_golden(Path(request.golden))
    request.check_tolerance_names(list(reference_leaves))
    candidate = build(Path(request.candidate_root), request.candidate_factory, request.seed)
    _load_state(candidate, weights, str(Path(request.golden) / "weights.safetensors"), "candidate")
    if dtype is not None:
        cast_model(candidate, dtype)
        args, kwargs = cast_inputs(args, kwargs, dtype)
    output = _forward(candidate, args, kwargs, name="candidate", porters=False, device=request.candidate_device)
    comparisons = compare_leaves(reference_leaves, dict(flatten(output)), request.tolerances())
    result.update(_summary(comparisons), mode="golden", verdict_mode="tolerance",
                  candidate="eager (ported code)" + (f" on {label(request.candidate_device)}"
                                                     if request.candidate_device != "cpu" else ""))
    result["verdict"] = "pass" if result["passed"] else "fail"
    return result


def _against_onnx(request: ParityRequest, result: dict, ref_out, args, kwargs) -> dict:
    from porter.compile.backends import run_onnx

    if kwargs:
        raise UsageError("a compiled ONNX candidate takes positional example inputs only")
    with stage("candidate (onnxruntime)", porters=False):
        onnx_out = run_onnx(Path(request.onnx_artifact), args)
    # ONNX returns the reference's tensor leaves flattened, in order: match them up by position.
    ref_leaves = {name: value for name, value in flatten(ref_out) if isinstance(value, torch.Tensor)}
    cand_leaves = dict(zip(ref_leaves, onnx_out, strict=False))
    for extra in range(len(ref_leaves), len(onnx_out)):
        cand_leaves[f"onnx_output[{extra}]"] = onnx_out[extra]
    comparisons = compare_leaves(ref_leaves, cand_leaves, request.tolerances())
    result.update(_summary(comparisons), mode="compiled", candidate=f"onnxruntime ({request.onnx_artifact})",
                  verdict_mode="tolerance")
    result["verdict"] = "pass" if result["passed"] else "fail"
    return result

