"""Run PyTorch's own operator samples (the OpInfo database of its test suite) on the emulated neuron
device and compare each result with the CPU's.

For every OpInfo and each of its float32 sample inputs: the op runs on CPU tensors, then on the same
inputs moved to the emulated `neuron` device. The ATen ops the device received are looked up in the
Neuron operator table; an OpInfo whose ATen ops are all `Y` must give a result equal to the CPU's,
bit for bit (NaN where the CPU has NaN). Others (CPU_FALLBACK, N, unknown) are counted apart.

    python scripts/emulate_opdb.py                 # every OpInfo
    python scripts/emulate_opdb.py --ops add,mm    # a few, by OpInfo name
    python scripts/emulate_opdb.py --json out.json

Exit status 1 when an all-Y op differs from the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter

import torch
from torch.utils._pytree import tree_flatten, tree_map

import porter.emulate as pe
from porter.emulate.neuron_device.tensor import NeuronTensor

SAMPLES_PER_OP = 3
# Their values are whatever memory held: nothing to compare (PyTorch's own tests skip them too).
UNINITIALIZED = frozenset({"empty", "empty_like", "new_empty", "new_empty_strided", "empty_strided",
                           "empty_permuted"})


def _to(value, device):
    return tree_map(lambda x: x.to(device) if isinstance(x, torch.Tensor) else x, value)


def _equal(a, b) -> bool:
    flat_a, _ = tree_flatten(a)
    flat_b, _ = tree_flatten(b)
    if len(flat_a) != len(flat_b):
        return False
    for x, y in zip(flat_a, flat_b, strict=True):
        if isinstance(x, torch.Tensor) != isinstance(y, torch.Tensor):
            return False
        if not isinstance(x, torch.Tensor):
            if x != y and not (x != x and y != y):  # NaN scalars are equal here
                return False
            continue
        y = y.cpu() if isinstance(y, NeuronTensor) or y.device.type != "cpu" else y
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if not _bitwise_equal(x, y):
            return False
    return True


def _bitwise_equal(x: torch.Tensor, y: torch.Tensor) -> bool:
    """The same bytes (so NaNs with the same payload are equal), or torch.equal where bytes cannot be viewed."""
    try:
        return torch.equal(x.reshape(-1).contiguous().view(torch.uint8), y.reshape(-1).contiguous().view(torch.uint8))
    except (RuntimeError, TypeError):
        return bool(torch.equal(x, y))


def check(opinfo, state) -> dict:
    """Run one OpInfo's samples; returns {"name", "status", "verdicts", "detail"}."""
    try:
        samples = list(opinfo.sample_inputs("cpu", torch.float32, requires_grad=False))[:SAMPLES_PER_OP]
    except Exception as exc:  # the OpInfo has no float32 samples on this build
        return {"name": opinfo.name, "status": "no samples", "detail": f"{type(exc).__name__}"}
    if not samples:
        return {"name": opinfo.name, "status": "no samples", "detail": ""}
    before = {op: r.count for op, r in state.ops.items()}
    if opinfo.name in UNINITIALIZED:
        return {"name": opinfo.name, "status": "uninitialized", "detail": "values are not defined"}
    for sample in samples:
        args = (sample.input, *sample.args)
        try:
            torch.manual_seed(0)
            expected = opinfo.op(*args, **sample.kwargs)
        except Exception as exc:
            return {"name": opinfo.name, "status": "cpu error", "detail": f"{type(exc).__name__}: {exc}"[:200]}
        try:
            device_args, device_kwargs = _to(args, "neuron"), _to(sample.kwargs, "neuron")
            torch.neuron.manual_seed(0)
            got = opinfo.op(*device_args, **device_kwargs)
        except Exception as exc:
            verdicts = _seen(state, before)
            return {"name": opinfo.name, "status": "device error", "verdicts": verdicts,
                    "detail": f"{type(exc).__name__}: {exc}"[:200]}
        try:
            same = _equal(expected, got)
        except Exception as exc:
            return {"name": opinfo.name, "status": "compare error", "verdicts": _seen(state, before),
                    "detail": f"{type(exc).__name__}: {exc}"[:200]}
        if not same:
            return {"name": opinfo.name, "status": "differs", "verdicts": _seen(state, before), "detail": ""}
    return {"name": opinfo.name, "status": "equal", "verdicts": _seen(state, before), "detail": ""}


def _seen(state, before: dict) -> dict[str, str]:
    return {op: r.verdict for op, r in state.ops.items() if r.count > before.get(op, 0)}


def classify(result: dict) -> str:
    verdicts = set(result.get("verdicts", {}).values())
    if result["status"] in ("no samples", "cpu error", "uninitialized"):
        return "skipped"
    if not verdicts:
        return "no device op"
    return "all Y" if verdicts == {"Y"} else "not all Y"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default="", help="comma-separated OpInfo names (default: all)")
    parser.add_argument("--json", default="", help="write every result to this file")
    args = parser.parse_args(argv)
    from torch.testing._internal.common_methods_invocations import op_db

    wanted = {n.strip() for n in args.ops.split(",") if n.strip()}
    opinfos = [o for o in op_db if not wanted or o.name in wanted]
    results = []
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    with pe.neuron() as state:
        for opinfo in opinfos:
            result = check(opinfo, state)
            result["class"] = classify(result)
            results.append(result)
    counts = Counter((r["class"], r["status"]) for r in results)
    all_y = [r for r in results if r["class"] == "all Y"]
    bad = [r for r in all_y if r["status"] != "equal"]
    print(f"{len(results)} OpInfos in {time.perf_counter() - start:.0f} s (torch {torch.__version__})")
    for (klass, status), n in sorted(counts.items()):
        print(f"  {n:5d}  {klass:12s} {status}")
    print(f"ops whose ATen ops are all Y: {len(all_y)}; equal to the CPU bit for bit: {len(all_y) - len(bad)}")
    for r in bad:
        print(f"  DIFFERS: {r['name']} ({r['status']}) {r['detail']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
