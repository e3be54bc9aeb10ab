"""Gradient check for ``torch.autograd.Function`` classes whose forward and backward launch Triton kernels.

The original class runs with Triton's interpreter; the ported class (its launches dispatching to the NKI
translations) runs with ``PORTER_KERNELS_SIMULATE=1`` so the translations run in porter's NKI simulator on CPU
tensors. Outputs and the gradients of every tensor input are compared. Run as a worker process:
``python -m porter.translate.triton.autograd_check ORIGINAL PORTED CLASS...`` prints one JSON line per class.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

SHAPES = ((3, 37), (129, 40))
TOLERANCE = (1e-4, 1e-4)


def autograd_classes(source: str, kernel_names: set[str]) -> list[str]:
    """Classes deriving from ``torch.autograd.Function`` whose forward and backward both launch one of
    ``kernel_names`` (``k[grid](...)`` or porter's ``_porter_triton_launch(k, ...)``)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(ast.unparse(b).endswith("autograd.Function") or ast.unparse(b) == "Function" for b in node.bases):
            continue
        methods = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
        if {"forward", "backward"} <= set(methods) and all(
                _launches(methods[m], kernel_names) for m in ("forward", "backward")):
            out.append(node.name)
    return out


def _launches(fn: ast.FunctionDef, names: set[str]) -> bool:
    for call in ast.walk(fn):
        if isinstance(call, ast.Call):
            f = call.func
            if isinstance(f, ast.Subscript) and isinstance(f.value, ast.Name) and f.value.id in names:
                return True
            if isinstance(f, ast.Call) and f.args and isinstance(f.args[0], ast.Name) and f.args[0].id in names:
                return True
    return False


def _compare(a: Any, b: Any) -> tuple[float, bool]:
    rtol, atol = TOLERANCE
    diff = (a.float() - b.float()).abs()
    err = float(diff.max()) if diff.numel() else 0.0
    return err, bool((diff <= atol + rtol * b.float().abs()).all())


def _stats() -> Any:
    try:
        import porter.nki

        return porter.nki.last_run_stats()
    except ImportError:
        return None


def check_class(orig_cls: Any, ported_cls: Any) -> dict[str, Any]:
    import torch

    params = list(inspect.signature(orig_cls.forward).parameters)[1:]  # after ctx
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for rows, cols in SHAPES:
        base = [torch.randn((rows, cols), generator=gen) for _ in params]
        runs = []
        for cls, simulate in ((orig_cls, "0"), (ported_cls, "1")):
            os.environ["PORTER_KERNELS_SIMULATE"] = simulate
            before = _stats()
            inputs = [b.clone().requires_grad_(True) for b in base]
            out = cls.apply(*inputs)
            grad_out = torch.ones_like(out) * 0.5 + torch.arange(out.numel()).reshape(out.shape) % 3
            grads = torch.autograd.grad(out, inputs, grad_out, allow_unused=True)
            runs.append((out.detach(), list(grads)))
            if simulate == "1" and _stats() is before:
                return {"status": "not checked", "reason": "the ported class never ran an NKI translation"}
        os.environ["PORTER_KERNELS_SIMULATE"] = "0"
        (o1, g1), (o2, g2) = runs
        err, ok = _compare(o2, o1)
        worst = max(worst, err)
        if not ok:
            return {"status": "failing", "reason": f"outputs differ on {rows}x{cols}: {err:.3g}", "max_abs_error": err}
        for name, a, b in zip(params, g2, g1, strict=True):
            if (a is None) != (b is None):
                return {"status": "failing", "reason": f"gradient of {name} missing on one side"}
            if a is not None:
                err, ok = _compare(a, b)
                worst = max(worst, err)
                if not ok:
                    return {"status": "failing", "reason": f"gradient of {name} differs on {rows}x{cols}: {err:.3g}",
                            "max_abs_error": err}
    return {"status": "gradients verified", "reason": "", "max_abs_error": worst}


def main(argv: list[str]) -> int:
    os.environ["TRITON_INTERPRET"] = "1"
    from .verify_worker import _load

    original, ported, names = Path(argv[0]), Path(argv[1]), argv[2:]
    token = abs(hash((str(original), os.getpid())))
    orig = _load(f"_porter_grad_orig_{token}", original)
    port = _load(f"_porter_grad_port_{token}", ported)
    for name in names:
        try:
            result = check_class(getattr(orig, name), getattr(port, name))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            result = {"status": "not checked", "reason": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
        result["class"] = name
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
