"""Layer by layer: every submodule call of a run, in execution order, compared with the reference.

The reference run is recorded in full: per call of a named submodule, its inputs (copied before
its forward runs, so an in-place change inside cannot hide a difference), its output, its start
order and the call it ran inside. Every other run (the candidate, the reference at a lower
precision) is compared with that record as it goes, keeping only the error norms, so memory holds
one run's activations. A module called twice is two calls: `name` and `name#2`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from porter.parity.compare import Tolerances, flatten


@dataclass
class Diff:
    """How far one value is from the reference's: the Frobenius norm of the difference over every
    floating leaf, the reference's norm, the largest absolute difference, and whether every leaf is
    within the tolerance (`comparable` False: a structure, shape or non-float leaf differs)."""

    error: float = 0.0
    norm: float = 0.0
    max_abs: float = 0.0
    within: bool = True
    comparable: bool = True

    @property
    def relative(self) -> float:
        if not self.comparable:
            return float("inf")
        if self.error == 0.0:
            return 0.0
        return self.error / self.norm if self.norm > 0 else float("inf")


def diff(reference: Any, other: Any, tolerances: Tolerances | None = None) -> Diff:
    tolerances = tolerances or Tolerances()
    result = Diff()
    try:
        ref_leaves, other_leaves = dict(flatten(reference)), dict(flatten(other))
    except TypeError:
        return Diff(comparable=False, within=False)
    if ref_leaves.keys() != other_leaves.keys():
        return Diff(comparable=False, within=False)
    squares, norms = 0.0, 0.0
    for name, ref in ref_leaves.items():
        cand = other_leaves[name]
        if not isinstance(ref, torch.Tensor) or not isinstance(cand, torch.Tensor):
            if isinstance(ref, torch.Tensor) or isinstance(cand, torch.Tensor) or ref != cand:
                return Diff(comparable=False, within=False)
            continue
        if ref.shape != cand.shape:
            return Diff(comparable=False, within=False)
        if not (ref.is_floating_point() or ref.is_complex()):
            if not torch.equal(ref, cand.to(ref.dtype)):
                return Diff(comparable=False, within=False)
            continue
        r = ref.detach().to("cpu", torch.float64)
        c = cand.detach().to("cpu", torch.float64)
        d = (r - c).abs()
        d = torch.where(torch.isnan(r) & torch.isnan(c), torch.zeros_like(d), d)
        squares += float(d.pow(2).sum())
        norms += float(r.nan_to_num().pow(2).sum())
        if d.numel():
            result.max_abs = max(result.max_abs, float(d.max()))
        rtol, atol = tolerances.for_output(name, ref.dtype)
        if bool((d > atol + rtol * r.abs()).any()) or bool(torch.isnan(d).any()):
            result.within = False
    result.error, result.norm = squares ** 0.5, norms ** 0.5
    return result


@dataclass
class Call:
    key: str  # the module's name, `name#2` for its second call
    module: str
    order: int  # start order: a container starts before its children
    parent: str | None  # the key of the call it ran inside
    inputs: Any = None
    output: Any = None


def _snapshot(value: Any) -> Any:
    """A CPU copy: values on an emulated device must not outlive its emulation."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, (tuple, list)):
        if hasattr(value, "_fields"):
            return type(value)(*(_snapshot(v) for v in value))
        return type(value)(_snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value


@contextmanager
def recording(model: torch.nn.Module, on_call: Callable[[Call], None]):
    """Hook every named submodule of the model; `on_call` receives each finished call (inputs
    snapshotted before the forward, output after it)."""
    stack: list[Call] = []
    counts: dict[str, int] = {}
    order = [0]
    handles = []

    def before(name):
        def hook(_module, args, kwargs):
            counts[name] = counts.get(name, 0) + 1
            key = name if counts[name] == 1 else f"{name}#{counts[name]}"
            stack.append(Call(key, name, order[0], stack[-1].key if stack else None,
                              _snapshot((tuple(args), dict(kwargs or {})))))
            order[0] += 1
        return hook

    def after(_module, _args, _kwargs, output):
        call = stack.pop()
        call.output = _snapshot(output)
        on_call(call)

    for name, module in model.named_modules():
        if name:  # the root's output is the model's output
            handles.append(module.register_forward_pre_hook(before(name), with_kwargs=True))
            handles.append(module.register_forward_hook(after, with_kwargs=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class LayerRow:
    """One module call: the candidate's error on its inputs and output (vs the reference run), and
    in the three-run verdict the baseline's (the reference at the target precision, or perturbed)."""

    module: str
    order: int
    parent: str | None
    inputs: Diff = field(default_factory=Diff)
    output: Diff = field(default_factory=Diff)
    baseline_inputs: Diff | None = None
    baseline_output: Diff | None = None
    missing: bool = False

    @property
    def ratio(self) -> float | None:
        return ratio(self.output, self.baseline_output) if self.baseline_output is not None else None

    @property
    def input_ratio(self) -> float | None:
        return ratio(self.inputs, self.baseline_inputs) if self.baseline_inputs is not None else None


def ratio(candidate: Diff, baseline: Diff) -> float:
    """‖cand − ref‖ / ‖baseline − ref‖; 0 when the candidate is exact, inf when only it differs."""
    if not candidate.comparable:
        return float("inf")
    if candidate.error == 0.0:
        return 0.0
    return candidate.error / baseline.error if baseline.error > 0 else float("inf")


class LayerComparison:
    """The reference's calls, then each compared run's errors on them."""

    def __init__(self, tolerances: Tolerances) -> None:
        self.tolerances = tolerances
        self.reference: dict[str, Call] = {}
        self.rows: dict[str, LayerRow] = {}

    def record_reference(self, call: Call) -> None:
        self.reference[call.key] = call
        self.rows[call.key] = LayerRow(call.key, call.order, call.parent, missing=True)

    def compare(self, role: str) -> Callable[[Call], None]:
        """A hook callback comparing a run's calls with the reference's; role `candidate` or
        `baseline`. The call's own values are dropped once compared."""
        def on_call(call: Call) -> None:
            ref = self.reference.get(call.key)
            if ref is None:
                return
            row = self.rows[call.key]
            inputs, output = diff(ref.inputs, call.inputs, self.tolerances), diff(ref.output, call.output,
                                                                                  self.tolerances)
            if role == "candidate":
                row.inputs, row.output, row.missing = inputs, output, False
            else:
                row.baseline_inputs, row.baseline_output = inputs, output
        return on_call

    def table(self) -> list[LayerRow]:
        return sorted(self.rows.values(), key=lambda r: r.order)


# Blame. A module is where the port went wrong when its output diverges while its inputs still
# match. "Match" is judged on scale-free errors, never on an absolute tolerance: a LayerNorm scales
# an input error by 1/std(x), so an error too small to fail `atol` on its way into the norm fails it
# on the way out, and the norm would be blamed for an error made upstream.
GROWTH = 4.0  # an output error this many times its input error was made inside the module


def relative_floor(dtype: torch.dtype | None) -> float:
    """The relative error below which two runs in `dtype` count as the same computation: a few
    roundings' worth (fp32 5e-6, bf16 0.06, fp16 4e-3)."""
    rtol, _ = Tolerances().for_output("", dtype or torch.float32)
    return 4 * max(rtol, 1e-7)


def blame(rows: list[LayerRow], *, ratio_threshold: float | None = None,
          dtype: torch.dtype | None = None) -> str | None:
    """The smallest module, first in execution order, whose output diverges while its inputs match.

    With a ratio threshold (the three-run verdict) errors are measured as ratios to the baseline's;
    else as relative Frobenius errors, against a floor for the dtype. A call whose inputs differ but
    whose output error is GROWTH times its input error also counts (it made most of the error). A
    call is not blamed when one of the calls inside it is: containers answer for their own code.
    """
    def measures(row: LayerRow) -> tuple[float, float, float]:
        if ratio_threshold is not None:
            return row.input_ratio or 0.0, row.ratio or 0.0, ratio_threshold
        return row.inputs.relative, row.output.relative, relative_floor(dtype)

    suspects = []
    for row in rows:
        if row.missing:
            continue
        e_in, e_out, threshold = measures(row)
        diverges = e_out > threshold or (ratio_threshold is None and not row.output.within)
        inputs_match = e_in <= threshold or e_out >= GROWTH * e_in
        if diverges and inputs_match:
            suspects.append(row)
    keys = {row.module for row in suspects}
    parents = {row.module: row.parent for row in rows}
    inner = set()
    for key in keys:
        parent = parents.get(key)
        while parent is not None:
            inner.add(parent)
            parent = parents.get(parent)
    blamed = [row for row in suspects if row.module not in inner]
    return min(blamed, key=lambda r: r.order).module if blamed else None


def rows_to_json(rows: list[LayerRow], *, ratio_threshold: float | None, dtype: torch.dtype | None) -> list[dict]:
    floor = relative_floor(dtype)
    out = []
    for row in rows:
        entry: dict[str, Any] = {
            "module": row.module, "order": row.order, "parent": row.parent, "missing": row.missing,
            "max_abs": row.output.max_abs, "rel_error": row.output.relative, "input_rel_error": row.inputs.relative,
        }
        if row.missing:
            entry.update(passed=False, inputs_match=None, problem="module missing in the candidate")
        elif ratio_threshold is not None:
            r, r_in = row.ratio or 0.0, row.input_ratio or 0.0
            entry.update(ratio=r, input_ratio=r_in, baseline_max_abs=row.baseline_output.max_abs,
                         passed=r <= ratio_threshold, inputs_match=r_in <= ratio_threshold)
        else:
            entry.update(passed=row.output.within and row.output.relative <= floor,
                         inputs_match=row.inputs.relative <= floor)
        out.append(entry)
    return out
