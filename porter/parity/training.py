"""Training parity: N optimizer steps on both sides from one seeded state, compared step by step.

Each side gets the same weights, the same inputs and the same seed before every step (so dropout
draws the same masks where the code is the same); its own loss function and optimizer factory,
resolved in its own root (a port that dropped `weight_decay` from the optimizer is the candidate's
code), or one given on the command line for both. After each step porter compares the loss, every
parameter's gradient, the parameters after the update, the optimizer's state tensors (exp_avg,
momentum buffers, step counts) and its hyperparameters, and names the first parameter whose
gradient diverges. Implementation switches (`fused`, `foreach`, ...) are noted, not failed: they
are judged by the numbers they produce.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from porter.graph.loader import ProjectLoader
from porter.parity.compare import OutputComparison, Tolerances, compare_tensors
from porter.parity.stages import stage

IMPLEMENTATION_FLAGS = {"fused", "foreach", "capturable", "differentiable"}


class TrainingSetupError(ValueError):
    """Training parity cannot start as asked (no loss, an optimizer spec that does not parse)."""


@dataclass
class StepRecord:
    loss: torch.Tensor
    gradients: dict[str, torch.Tensor | None] = field(default_factory=dict)
    parameters: dict[str, torch.Tensor] = field(default_factory=dict)
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    hyperparameters: list[dict[str, Any]] = field(default_factory=list)


def parse_optimizer(spec: str) -> tuple[str, dict[str, Any]]:
    """`AdamW` or `AdamW(lr=1e-3, weight_decay=0.1)`: a torch.optim class and literal keywords."""
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise TrainingSetupError(f"--optimizer {spec!r}: expected Name or Name(key=value, ...) or "
                                 f"pkg.module:factory") from None
    if isinstance(node, ast.Name):
        name, kwargs = node.id, {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        try:
            name, kwargs = node.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        except ValueError:
            raise TrainingSetupError(f"--optimizer {spec!r}: keyword values must be literals") from None
    else:
        raise TrainingSetupError(f"--optimizer {spec!r}: expected Name or Name(key=value, ...)")
    if not isinstance(getattr(torch.optim, name, None), type):
        raise TrainingSetupError(f"--optimizer {spec!r}: torch.optim has no optimizer {name}")
    return name, kwargs


def optimizer_factory(spec: str, root: Path) -> Callable[[torch.nn.Module], torch.optim.Optimizer]:
    """A pkg.module:factory (called with the model) from `root`, or a torch.optim spec."""
    if ":" in spec:
        with ProjectLoader(root) as loader:
            factory = loader.resolve(spec)
        return factory
    name, kwargs = parse_optimizer(spec)
    return lambda model: getattr(torch.optim, name)(model.parameters(), **kwargs)


def loss_function(spec: str, root: Path) -> Callable[..., torch.Tensor]:
    with ProjectLoader(root) as loader:
        return loader.resolve(spec)


def _state_by_name(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                out[f"{names.get(id(param), '?')}.{key}"] = _cpu(value)
            elif isinstance(value, (int, float)):
                out[f"{names.get(id(param), '?')}.{key}"] = torch.tensor(float(value))
    return out


def _hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def _cpu(value: torch.Tensor) -> torch.Tensor:
    return value.detach().to("cpu", copy=True)


def train(model: torch.nn.Module, make_optimizer, loss_fn, args: tuple, kwargs: dict, steps: int, seed: int,
          side: str, on_step: Callable[[int, StepRecord], None], where: str = "") -> None:
    """Run `steps` optimizer steps; hand each step's record (CPU copies) to `on_step`. `where` names
    an emulated device the model is on: its runs are porter's stages."""
    model.train()
    porters = bool(where)
    side = f"{side}{' on ' + where if where else ''}"
    with stage(f"{side}: building the optimizer", porters=porters):
        optimizer = make_optimizer(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TrainingSetupError(f"{side}: the optimizer factory returned {type(optimizer).__name__}, not a "
                                 f"torch.optim.Optimizer")
    for step in range(1, steps + 1):
        torch.manual_seed(seed + step)
        with stage(f"{side}: training step {step}", porters=porters):
            optimizer.zero_grad(set_to_none=True)
            output = model(*args, **kwargs)
            loss = loss_fn(output, *args, **kwargs)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise TrainingSetupError(f"{side}: the loss function must return a scalar tensor, not "
                                         f"{type(loss).__name__}")
            loss.backward()
            record = StepRecord(loss=_cpu(loss).reshape(()))
            record.gradients = {n: None if p.grad is None else _cpu(p.grad) for n, p in model.named_parameters()}
            optimizer.step()
        record.parameters = {n: _cpu(p) for n, p in model.named_parameters()}
        record.state = _state_by_name(model, optimizer)
        record.hyperparameters = _hyperparameters(optimizer)
        on_step(step, record)


def _compare_group(step: int, what: str, reference: dict[str, Any], candidate: dict[str, Any],
                   tolerances: Tolerances) -> tuple[OutputComparison, str | None]:
    """One line of the report for a family of tensors (gradients, parameters, optimizer state):
    passed when every tensor is within tolerance; the first failing one (in model order) named."""
    first, worst = None, OutputComparison(name=f"step {step} {what}", passed=True)
    for name, ref in reference.items():
        cand = candidate.get(name, "missing")
        if ref is None or cand is None:
            if (ref is None) != (cand is None):
                problem = f"{name}: no gradient in the " + ("reference" if ref is None else "candidate")
                first = first or name
                worst.passed, worst.problem = False, worst.problem or problem
            continue
        if isinstance(cand, str):
            first = first or name
            worst.passed, worst.problem = False, worst.problem or f"{name}: missing in the candidate"
            continue
        rtol, atol = tolerances.for_output(what, ref.dtype)
        c = compare_tensors(name, ref, cand, rtol, atol)
        if c.max_abs >= worst.max_abs:
            worst.max_abs, worst.max_abs_index, worst.max_rel = c.max_abs, c.max_abs_index, c.max_rel
            worst.rtol, worst.atol = rtol, atol
        if not c.passed:
            first = first or name
            worst.passed = False
            detail = f", {c.problem}" if c.problem else ""
            worst.problem = worst.problem or f"first: {name} (max abs {c.max_abs:.3g}{detail})"
    extra = [n for n in candidate if n not in reference]
    if extra:
        first = first or extra[0]
        worst.passed, worst.problem = False, worst.problem or f"{extra[0]}: not in the reference"
    return worst, first


def _hyperparameter_diffs(reference: list[dict], candidate: list[dict]) -> tuple[list[str], list[str]]:
    """(differences that change the numbers, implementation switches that may not)."""
    diffs, notes = [], []
    if len(reference) != len(candidate):
        diffs.append(f"{len(candidate)} parameter groups, the reference has {len(reference)}")
    for i, (ref, cand) in enumerate(zip(reference, candidate, strict=False)):
        for key in sorted(set(ref) | set(cand)):
            a, b = ref.get(key), cand.get(key)
            if a != b and not (isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)):
                line = f"param_groups[{i}].{key}: {b!r}, the reference has {a!r}"
                (notes if key in IMPLEMENTATION_FLAGS else diffs).append(line)
    return diffs, notes


def compare_steps(reference: list[StepRecord], candidate: list[StepRecord],
                  tolerances: Tolerances) -> tuple[list[OutputComparison], dict]:
    """Per step: loss, gradients, parameters after the update, optimizer state; plus the first
    divergence overall and the first parameter whose gradient diverges."""
    rows: list[OutputComparison] = []
    summary: dict[str, Any] = {"steps": len(reference), "first_divergence": None, "first_gradient_divergence": None,
                               "hyperparameters": [], "notes": []}
    diffs, notes = _hyperparameter_diffs(reference[0].hyperparameters, candidate[0].hyperparameters) \
        if reference and candidate else ([], [])
    summary["hyperparameters"], summary["notes"] = diffs, notes
    if diffs:
        rows.append(OutputComparison(name="optimizer hyperparameters", passed=False, problem="; ".join(diffs)))
        summary["first_divergence"] = {"step": 0, "what": "optimizer hyperparameters", "name": diffs[0]}
    for step, (ref, cand) in enumerate(zip(reference, candidate, strict=False), start=1):
        rtol, atol = tolerances.for_output("loss", ref.loss.dtype)
        loss = compare_tensors(f"step {step} loss", ref.loss.float(), cand.loss.float(), rtol, atol)
        loss.problem = loss.problem or ("" if loss.passed else
                                        f"{float(cand.loss):.8g}, the reference has {float(ref.loss):.8g}")
        rows.append(loss)
        groups = [("loss", loss, "loss" if not loss.passed else None)]
        for what, r, c in (("gradients", ref.gradients, cand.gradients), ("parameters", ref.parameters,
                                                                          cand.parameters),
                           ("optimizer state", ref.state, cand.state)):
            row, first = _compare_group(step, what, r, c, tolerances)
            rows.append(row)
            groups.append((what, row, first))
            if what == "gradients" and first and summary["first_gradient_divergence"] is None:
                summary["first_gradient_divergence"] = {"step": step, "parameter": first}
        for what, row, first in groups:
            if not row.passed and summary["first_divergence"] is None:
                summary["first_divergence"] = {"step": step, "what": what, "name": first}
    for row in rows:
        row.verdict = "pass" if row.passed else "fail"
    return rows, summary


def describe(summary: dict) -> str | None:
    first = summary.get("first_divergence")
    if not first:
        return None
    if first["what"] == "optimizer hyperparameters":
        return f"before step 1: the optimizer differs: {first['name']}"
    where = f"step {first['step']}, {first['what']}" + (f": {first['name']}" if first["name"] not in (None, "loss")
                                                        else "")
    gradient = summary.get("first_gradient_divergence")
    if gradient:
        where += f"; first gradient to diverge: {gradient['parameter']} (step {gradient['step']})"
    return where
