"""The bf16 cases of a kernel that fail the elementwise check, judged as AWS's parity verdict judges a
port run at a lower precision (docs/triton-to-nki.md, "bf16 verdict").

That verdict's error ratio is ‖out3 − out1‖ / ‖out2 − out1‖: out1 the reference in fp32, out2 the
reference at the target precision, out3 the candidate; where the reference cannot run at the target
precision, out2 is the reference run on inputs perturbed by that precision's epsilon. Triton's
interpreter cannot run bf16 arithmetic, so here out1 is the Triton kernel in fp32, out2 the same on
inputs each moved by ±1 bf16 epsilon, out3 the NKI translation in bf16.

Why: a kernel whose result jumps where a value crosses a threshold (`tl.where(u > 0, -lr, lr)`, a
sign, an argmax) differs from the fp32 reference at the few elements that bf16 rounding moves across
it, as the Triton kernel itself would on a GPU in bf16. No elementwise tolerance tells that from a
wrong translation; a ratio near the reference's own sensitivity, with few such elements, does. Only
called when every fp32 case passed its strict check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_RATIO = 1.2  # the verdict's pass mark ("≤ 1.2 pass, 1.2-2 marginal")
MAX_OUTSIDE = 1e-3  # of the elements the reference wrote, at most this share outside the elementwise tolerance


@dataclass
class Bf16Case:
    """One shape's bf16 run: the inputs (fp32, exact in bf16), the fp32 reference's arguments after its
    run, the bf16 translation's after its run, how many elements were outside the tolerance, and how to
    run the reference again in place on other arguments."""

    values: list[Any]
    reference: list[Any]
    candidate: list[Any]
    outside: int
    run_reference: Callable[[list[Any]], None]


def perturbed(values: list[Any], gen: Any) -> list[Any]:
    """Each floating-point tensor of `values` with every element moved by ±1 bf16 epsilon (its sign
    drawn from `gen`); other arguments as they are (tensors copied: the kernel writes into them)."""
    import torch

    eps = torch.finfo(torch.bfloat16).eps
    out = []
    for v in values:
        if torch.is_tensor(v) and v.is_floating_point():
            signs = torch.randint(0, 2, v.shape, generator=gen).to(v.dtype) * 2 - 1
            out.append(v * (1 + eps * signs))
        else:
            out.append(v.clone() if torch.is_tensor(v) else v)
    return out


def judge(cases: list[Bf16Case], gen: Any) -> tuple[bool, str]:
    """(passed, what was found) for the bf16 runs of one kernel over all its shapes."""
    import torch

    num = den = 0.0
    written = outside = 0
    for case in cases:
        moved = perturbed(case.values, gen)
        case.run_reference(moved)
        outside += case.outside
        for before, ref, cand, pert in zip(case.values, case.reference, case.candidate, moved, strict=True):
            if not torch.is_tensor(ref):
                continue
            ref, cand, pert = ref.float(), cand.float(), pert.float()
            if bool((torch.isnan(ref) != torch.isnan(cand)).any()):
                return False, "bf16: NaN where the fp32 reference has none (or none where it has)"
            if bool(((torch.isinf(cand) | torch.isinf(ref)) & (cand != ref)).any()):
                return False, "bf16: an infinity where the fp32 reference has another value (an overflow)"
            # the candidate's error everywhere (a write the reference did not make counts too); the
            # reference's change only where it wrote (elsewhere it is the perturbation itself)
            num += float(torch.nan_to_num(torch.where(cand == ref, 0.0, cand - ref)).double().pow(2).sum())
            wrote = ref.ne(before.float()) & ~torch.isnan(ref)
            written += int(wrote.sum())
            change = torch.where(pert == ref, 0.0, pert - ref)[wrote]
            if not bool(torch.isfinite(change).all()):
                return False, "bf16: the fp32 reference overflows when its inputs move by one bf16 epsilon: no ratio"
            den += float(change.double().pow(2).sum())
    if not written:
        return False, "bf16: the reference wrote no element to judge"
    ratio = (num / den) ** 0.5 if den else float("inf")
    found = (f"bf16: {outside} of {written} written elements outside the elementwise tolerance; error ratio "
             f"{ratio:.2f} against the fp32 reference's own change under ±1 bf16 epsilon on its inputs")
    passed = outside <= MAX_OUTSIDE * written and ratio <= MAX_RATIO
    limits = f"(pass: ratio ≤ {MAX_RATIO}, at most {MAX_OUTSIDE:.1%} of the elements)"
    return passed, f"{found} {limits}"
