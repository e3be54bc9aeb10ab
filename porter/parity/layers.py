"""Layer-by-layer comparison: forward hooks on both models, matched by module name.

The modules are compared in the order the reference runs them; the first whose output diverges
is where the port went wrong (later ones only inherit the difference).
"""

from __future__ import annotations

from typing import Any

import torch

from porter.parity.compare import OutputComparison, Tolerances, compare_outputs


def record_outputs(model: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[Any, list[tuple[str, Any]]]:
    """Run the model once; return its output and each named submodule's output in call order."""
    seen: list[tuple[str, Any]] = []
    handles = []

    def hook(name):
        def save(_module, _inputs, output):
            seen.append((name, _detach(output)))
        return save

    for name, module in model.named_modules():
        if name:  # the root's output is the model output
            handles.append(module.register_forward_hook(hook(name)))
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
        return type(value)(_detach(v) for v in value) if not hasattr(value, "_fields") else value
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


def compare_layers(reference: list[tuple[str, Any]], candidate: list[tuple[str, Any]],
                   tolerances: Tolerances) -> list[tuple[str, list[OutputComparison]]]:
    """Per module (first call of each name), the comparison of its outputs."""
    candidate_first: dict[str, Any] = {}
    for name, output in candidate:
        candidate_first.setdefault(name, output)
    done = set()
    results = []
    for name, output in reference:
        if name in done:
            continue
        done.add(name)
        if name not in candidate_first:
            results.append((name, [OutputComparison(name=name, passed=False, problem="module missing in candidate")]))
            continue
        try:
            comparisons = compare_outputs(output, candidate_first[name], tolerances)
        except TypeError as exc:
            comparisons = [OutputComparison(name=name, passed=True, problem=f"not compared: {exc}")]
        results.append((name, comparisons))
    return results


def first_divergence(layers: list[tuple[str, list[OutputComparison]]]) -> str | None:
    for name, comparisons in layers:
        if not all(c.passed for c in comparisons):
            return name
    return None
