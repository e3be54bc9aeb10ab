"""Layer-by-layer comparison: forward hooks on both models, matched by module name.

Each module's inputs and outputs are recorded in the order the modules finish (a parent after its
children). The module where the port went wrong is the first whose inputs still agree with the
reference but whose output does not: a module fed an already-diverged input only inherits the
difference, so naming it (e.g. the output projection after a broken attention) would mislead.
"""

from __future__ import annotations

from typing import Any

import torch

from porter.parity.compare import OutputComparison, Tolerances, compare_outputs


def record_outputs(model: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[Any, list[tuple[str, Any]]]:
    """Run the model once; return its output and, per named submodule call in finishing order,
    (name, output, inputs) where inputs is (args, kwargs)."""
    seen: list[tuple[str, Any, Any]] = []
    handles = []

    def hook(name):
        def save(_module, inputs, kw, output):
            seen.append((name, _detach(output), (_detach(tuple(inputs)), _detach(dict(kw or {})))))
        return save

    for name, module in model.named_modules():
        if name:  # the root's output is the model output
            handles.append(module.register_forward_hook(hook(name), with_kwargs=True))
    try:
        with torch.no_grad():
            output = model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return output, seen


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        if hasattr(value, "_fields"):
            return type(value)(*(_detach(v) for v in value))
        return type(value)(_detach(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


def _all_pass(reference: Any, candidate: Any, tolerances: Tolerances) -> bool | None:
    """True/False when comparable; None when the values cannot be compared."""
    try:
        return all(c.passed for c in compare_outputs(reference, candidate, tolerances))
    except TypeError:
        return None


def _split(entry: tuple) -> tuple[str, Any, Any]:
    if len(entry) == 3:
        return entry
    name, output = entry
    return name, output, None


def compare_layers(reference: list[tuple], candidate: list[tuple],
                   tolerances: Tolerances) -> list[tuple[str, list[OutputComparison]]]:
    """Per module (first call of each name), the comparison of its outputs."""
    return [(name, comparisons) for name, comparisons, _ in compare_layers_detailed(reference, candidate, tolerances)]


def compare_layers_detailed(reference: list[tuple], candidate: list[tuple],
                            tolerances: Tolerances) -> list[tuple[str, list[OutputComparison], bool | None]]:
    """Per module (first call of each name): its output comparisons and whether its inputs agreed."""
    candidate_first: dict[str, tuple[Any, Any]] = {}
    for entry in candidate:
        name, output, inputs = _split(entry)
        candidate_first.setdefault(name, (output, inputs))
    done = set()
    results = []
    for entry in reference:
        name, output, inputs = _split(entry)
        if name in done:
            continue
        done.add(name)
        if name not in candidate_first:
            results.append((name, [OutputComparison(name=name, passed=False, problem="module missing in candidate")],
                            None))
            continue
        cand_output, cand_inputs = candidate_first[name]
        try:
            comparisons = compare_outputs(output, cand_output, tolerances)
        except TypeError as exc:
            comparisons = [OutputComparison(name=name, passed=True, problem=f"not compared: {exc}")]
        inputs_match = None
        if inputs is not None and cand_inputs is not None:
            inputs_match = _all_pass(inputs, cand_inputs, tolerances)
        results.append((name, comparisons, inputs_match))
    return results


def first_divergence(layers: list[tuple]) -> str | None:
    """The first module whose output diverges while its inputs agree (the origin of the difference);
    when no inputs were recorded, simply the first module whose output diverges."""
    first_diverging = None
    for entry in layers:
        name, comparisons = entry[0], entry[1]
        inputs_match = entry[2] if len(entry) > 2 else None
        if all(c.passed for c in comparisons):
            continue
        if first_diverging is None:
            first_diverging = name
        if inputs_match is not False:
            return name
    return first_diverging
