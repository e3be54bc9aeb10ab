"""Build porter/graph/data/torchneuron_ops.json: the Neuron operator-coverage table that both
`porter trace` and the emulated `neuron` device read.

What this writes, and why (the table's own `meta` repeats it):

TorchNeuron publishes per release a compatibility table (aws-neuron/torch-neuronx,
docs/torch_api_compatibility.md) marking each public PyTorch API Y, CPU_FALLBACK or N, and naming
the ATen op that falls back. That file could not be obtained on the project's machines (no snapshot
of the repository; the Neuron docs link to it but do not reproduce it). So this script builds the
table from what *is* documented, plus one stated assumption, and records the basis of every entry:

  doc-n          N: the Neuron docs' own description of N ("quantized operator variants, non-Neuron
                 backends under torch.backends", docs torch/reference/api/supported-operators, 2026-11-06)
  doc-fallback   CPU_FALLBACK: an op the Neuron compiler docs call unsupported (neuronx-cc error pages,
                 torch_neuronx.trace/analyze examples); TorchNeuron runs unsupported ops on the CPU by
                 default (docs torch/reference/best-practices-pytorch-neuron, Neuron 2.33)
  doc-y          Y: named as supported by the TorchNeuron docs (about-pytorch-neuron, MoE ops)
  core-aten      Y, ASSUMED: in PyTorch's core ATen opset (torch.Tag.core, the op set a compiler
                 backend lowers; TorchNeuron lowers ATen ops to StableHLO). Not from the real table.
  decomposes     Y, ASSUMED: PyTorch decomposes the op into core ATen ops (torch._decomp's
                 core_aten_decompositions); the verdict is that of core ATen above.
  foreach        Y, ASSUMED: a _foreach_ op is its elementwise core op applied to a list.
  random-fill    Y, ASSUMED: in-place random fills (normal_, uniform_, ...); rand/randn are core ATen.

Ops in none of these are left out: the device and `porter trace` report them as unknown.
Replace this file with the real table when it can be had (same JSON shape).

Run: .venv/bin/python scripts/build_neuron_op_table.py   (deterministic for a given torch version)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
from torch._decomp import core_aten_decompositions

OUT = Path(__file__).resolve().parents[1] / "porter" / "graph" / "data" / "torchneuron_ops.json"

# Documented unsupported by neuronx-cc (see docs/porter's compat notes); on TorchNeuron they fall back to CPU.
DOC_FALLBACK = {
    "sort": "neuronx-cc: aten::sort not supported (torch_neuronx.trace partitioner example)",
    "argsort": "a sort: neuronx-cc does not support aten::sort",
    "fft_fft": "neuronx-cc: aten::fft_fft fails (torch_neuronx.analyze example)",
    "_fft_r2c": "FFT: aten::fft_fft fails in neuronx-cc (torch_neuronx.analyze example)",
    "_fft_c2r": "FFT: aten::fft_fft fails in neuronx-cc (torch_neuronx.analyze example)",
    "_fft_c2c": "FFT: aten::fft_fft fails in neuronx-cc (torch_neuronx.analyze example)",
    "nonzero": "data-dependent output shape (torch_neuronx.trace limitations)",
    "masked_select": "data-dependent output shape (torch_neuronx.trace limitations)",
    "unique_dim": "data-dependent output shape (torch_neuronx.trace limitations)",
    "_unique2": "data-dependent output shape (torch_neuronx.trace limitations)",
    "unique_consecutive": "data-dependent output shape (torch_neuronx.trace limitations)",
    "triangular_solve": "NCC_EUOC002 unsupported operator (neuronx-cc error codes); use torch.inverse(A) @ b",
    "linalg_solve_triangular": "NCC_EUOC002 unsupported operator (neuronx-cc error codes)",
}
DOC_Y = {
    "_grouped_mm": "TorchNeuron supports torch._grouped_mm (docs about-pytorch-neuron, MoE)",
    "_scaled_grouped_mm": "TorchNeuron supports torch._scaled_grouped_mm (docs about-pytorch-neuron, MoE)",
}
# In-place random fills; their functional forms (rand, randn) are core ATen.
RANDOM_FILL = frozenset({"normal", "uniform", "bernoulli", "random", "exponential", "cauchy", "log_normal",
                         "geometric"})
# "Quantized operator variants, non-Neuron backends under torch.backends": matched by name.
DOC_N = re.compile(r"^(_?(quantize|dequantize|quantized|q_|fbgemm|int_repr|_make_per_)|_?(cudnn|miopen|mkldnn|mps|"
                   r"nnpack|cufft|cslt|cudnn_|_cudnn|use_cudnn|sparse_semi_structured)|.*_cudnn_|.*mkldnn)")


def _overloads(base: str):
    packet = getattr(torch.ops.aten, base, None)
    if packet is None:
        return []
    out = []
    for name in packet.overloads():
        try:
            out.append(getattr(packet, name))
        except (AttributeError, RuntimeError):
            continue
    return out


def build() -> dict:
    bases = sorted({name[len("aten::"):].partition(".")[0] for name in torch._C._dispatch_get_all_op_names()
                    if name.startswith("aten::")})
    decomposed = {op.name().partition("::")[2].partition(".")[0] for op in core_aten_decompositions()
                  if hasattr(op, "name")}
    core = {b for b in bases if any(torch.Tag.core in op.tags for op in _overloads(b))}
    ops: dict[str, dict[str, str]] = {}
    for base in bases:
        plain = base[:-1] if base.endswith("_") and not base.endswith("__") else base
        if DOC_N.match(base):
            ops[base] = {"verdict": "N", "basis": "doc-n"}
        elif base in DOC_FALLBACK or plain in DOC_FALLBACK:
            ops[base] = {"verdict": "CPU_FALLBACK", "basis": "doc-fallback",
                         "note": DOC_FALLBACK.get(base) or DOC_FALLBACK[plain]}
        elif base in DOC_Y:
            ops[base] = {"verdict": "Y", "basis": "doc-y", "note": DOC_Y[base]}
        elif base in core or plain in core:
            ops[base] = {"verdict": "Y", "basis": "core-aten"}
        elif base in decomposed or plain in decomposed:
            ops[base] = {"verdict": "Y", "basis": "decomposes"}
        elif plain in RANDOM_FILL:
            ops[base] = {"verdict": "Y", "basis": "random-fill"}
        elif base.startswith("_foreach_") and (base[len("_foreach_"):].rstrip("_") in core):
            ops[base] = {"verdict": "Y", "basis": "foreach"}
    return {"meta": META | {"torch": torch.__version__.split("+")[0], "ops": len(ops)}, "ops": ops}


META = {
    "title": "Neuron operator coverage (TorchNeuron, the `neuron` device), by ATen op",
    "verdicts": {
        "Y": "runs on the Neuron device",
        "CPU_FALLBACK": "runs on the CPU and the result is copied back to the device (slower)",
        "N": "not supported on Neuron: raises",
    },
    "scheme_source": "Neuron docs 'Supported PyTorch APIs and operators' (torch/reference/api/supported-operators, "
                     "date-modified 2026-11-06): Y / CPU_FALLBACK / N per public API, per torch-neuronx release",
    "real_table": "aws-neuron/torch-neuronx docs/torch_api_compatibility.md — NOT obtained on the project's "
                  "machines; this file is built by scripts/build_neuron_op_table.py instead",
    "release": "no TorchNeuron release: built from Neuron docs up to 2.34 and the core ATen opset of the torch "
               "named in `torch`",
    "bases": {
        "doc-n": "documented: the Neuron docs' description of N (quantized variants, non-Neuron backends)",
        "doc-fallback": "documented: neuronx-cc cannot compile it; TorchNeuron runs unsupported ops on the CPU",
        "doc-y": "documented: named as supported in the TorchNeuron docs",
        "core-aten": "ASSUMED Y: in PyTorch's core ATen opset (what a compiler backend lowers); not from the real "
                     "table",
        "decomposes": "ASSUMED Y: PyTorch decomposes it into core ATen ops",
        "foreach": "ASSUMED Y: a _foreach_ list form of a core ATen elementwise op",
        "random-fill": "ASSUMED Y: an in-place random fill (its functional forms rand/randn are core ATen)",
    },
}


def main() -> int:
    table = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["{", f'  "meta": {json.dumps(table["meta"], indent=None, sort_keys=True)},', '  "ops": {']
    entries = [f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(table["ops"].items())]
    lines.append(",\n".join(entries))
    lines += ["  }", "}"]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in table["ops"].values():
        counts[entry["basis"]] = counts.get(entry["basis"], 0) + 1
    print(f"wrote {OUT} ({len(table['ops'])} ops: {counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
