"""`porter trace`: torch.export of a model, its operator inventory and a Neuron verdict per op.

What `torch_neuronx.analyze` does, on any machine: every aten op with its count and the source
lines that produced it, graph breaks and data-dependent control flow with their source lines,
dynamic shapes, and the places where a kernel from porter's library would apply.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from porter.graph.compat import (
    CAVEAT,
    DATA_OPERANDS,
    FALLBACK,
    SUPPORTED,
    UNKNOWN,
    UNSUPPORTED,
    ignored,
    op_name,
    verdict,
)

# aten op → the kernel in porter.kernels that implements it.
KERNEL_FOR_OP = {
    "scaled_dot_product_attention": "attention",
    "_scaled_dot_product_flash_attention_for_cpu": "attention",
    "_scaled_dot_product_efficient_attention": "attention",
    "layer_norm": "layernorm",
    "native_layer_norm": "layernorm",
    "rms_norm": "rmsnorm",
    "_softmax": "softmax",
    "softmax": "softmax",
    "linear": "matmul",
    "mm": "matmul",
    "bmm": "matmul",
    "matmul": "matmul",
    "addmm": "matmul",
    "silu": "glu (when multiplied by a gate)",
    "gelu": "glu (when multiplied by a gate)",
}

TORCH_DIR = str(Path(torch.__file__).parent)
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


@dataclass
class OpEntry:
    target: str
    count: int = 0
    dtypes: set[str] = field(default_factory=set)
    data_dtypes: set[str] | None = None  # ops with index operands: the dtypes of their data alone
    sources: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    status: str = ""
    note: str = ""
    kernel: str = ""

    def to_dict(self) -> dict:
        return {
            "op": self.target, "count": self.count, "status": self.status, "note": self.note,
            "dtypes": sorted(self.dtypes), "sources": self.sources[:5], "modules": sorted(self.modules)[:5],
            "kernel": self.kernel,
        }


@dataclass
class TraceReport:
    model: str
    exported: bool
    ops: list[OpEntry] = field(default_factory=list)
    graph_breaks: list[dict] = field(default_factory=list)
    export_error: str = ""
    dynamic_shapes: list[str] = field(default_factory=list)
    kernel_hints: list[dict] = field(default_factory=list)
    target: str = "neuron"

    @property
    def support_percent(self) -> float:
        total = sum(op.count for op in self.ops)
        good = sum(op.count for op in self.ops if op.status in (SUPPORTED, CAVEAT))
        return round(100.0 * good / total, 2) if total else 100.0

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "target": self.target,
            "exported": self.exported,
            "export_error": self.export_error,
            "support_percent": self.support_percent,
            "unsupported": [op.to_dict() for op in self.ops if op.status == UNSUPPORTED],
            "cpu_fallback": [op.to_dict() for op in self.ops if op.status == FALLBACK],
            "ops": [op.to_dict() for op in self.ops],
            "graph_breaks": self.graph_breaks,
            "dynamic_shapes": self.dynamic_shapes,
            "kernel_hints": self.kernel_hints,
        }


def _user_frame(stack: str | None) -> str:
    """The last frame of a stack trace, as path:line (function)."""
    if not stack:
        return ""
    frames = _FRAME.findall(stack)
    if not frames:
        return ""
    # The user's line, not torch's own module code that it called into.
    user = [f for f in frames if not f[0].startswith(TORCH_DIR)] or frames
    path, line, func = user[-1]
    return f"{path}:{line} ({func})"


def _dtype_names(values) -> set[str]:
    found = set()
    for value in values:
        for item in value if isinstance(value, (tuple, list)) else (value,):
            dtype = getattr(item, "dtype", None)
            if isinstance(dtype, torch.dtype):
                found.add(str(dtype).replace("torch.", ""))
    return found


def _dtypes(node) -> set[str]:
    """The dtypes of every tensor the node reads or returns."""
    return _dtype_names([node.meta.get("val")] + [a.meta.get("val") for a in node.all_input_nodes])


def _data_dtypes(node) -> set[str] | None:
    """For an op with index operands (compat.DATA_OPERANDS): the dtypes of its data operands and
    data outputs only (a float topk's int64 indices are not its data); None for any other op."""
    name = op_name(str(node.target))
    positions = next((p for op, p in DATA_OPERANDS.items() if name == op or name.startswith(op + "_")), None)
    if positions is None:
        return None
    inputs, outputs = positions
    values = [node.args[i].meta.get("val") for i in inputs
              if i < len(node.args) and hasattr(node.args[i], "meta")]
    result = node.meta.get("val")
    results = result if isinstance(result, (tuple, list)) else (result,)
    values += [results[i] for i in outputs if i < len(results)]
    return _dtype_names(values)


def inventory(exported, device_target: str = "neuron") -> list[OpEntry]:
    ops: dict[str, OpEntry] = {}
    for node in exported.graph.nodes:
        if node.op != "call_function":
            continue
        target = str(node.target)
        if not target.startswith("aten.") or ignored(target):
            continue
        entry = ops.setdefault(target, OpEntry(target))
        entry.count += 1
        entry.dtypes |= _dtypes(node)
        data = _data_dtypes(node)
        if data is not None:
            entry.data_dtypes = (entry.data_dtypes or set()) | data
        source = _user_frame(node.meta.get("stack_trace"))
        if source and source not in entry.sources:
            entry.sources.append(source)
        stack = node.meta.get("nn_module_stack") or {}
        if stack:
            entry.modules.add(list(stack.values())[-1][0])
    first_node = {}
    for node in exported.graph.nodes:
        if node.op == "call_function":
            first_node.setdefault(str(node.target), node)
    for entry in ops.values():
        v = verdict(entry.target, entry.dtypes, entry.data_dtypes, device_target=device_target)
        entry.status, entry.note = v.status, v.note
        if v.status == UNKNOWN and entry.target in first_node:  # judged at the level the list names
            _judge_by_decomposition(entry, first_node[entry.target], device_target)
        entry.kernel = KERNEL_FOR_OP.get(op_name(entry.target), "")
    return sorted(ops.values(), key=lambda e: (e.status != UNSUPPORTED, -e.count, e.target))


_SEVERITY = (SUPPORTED, CAVEAT, FALLBACK, UNKNOWN, UNSUPPORTED)


def _decomposed_targets(node) -> list[str]:
    """The ATen ops a composite op becomes at dispatch (what the device receives), traced on empty
    tensors of the node's shapes and dtypes; [] when it has no decomposition or cannot be traced."""
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.utils._pytree import tree_map

    op = node.target
    if not isinstance(op, torch._ops.OpOverload) or not op.has_kernel_for_dispatch_key(
            torch._C.DispatchKey.CompositeImplicitAutograd):
        return []

    def real(value):
        if isinstance(value, torch.fx.Node):
            val = value.meta.get("val")
            if isinstance(val, torch.Tensor) and all(isinstance(d, int) for d in val.shape):
                return torch.zeros(tuple(val.shape), dtype=val.dtype)
            raise ValueError("symbolic or missing value")
        return value

    try:
        args, kwargs = tree_map(real, (node.args, node.kwargs))
        graph = make_fx(lambda *a, **k: op.decompose(*a, **k))(*args, **kwargs)
    except Exception:  # a decomposition that cannot run on stand-in values: the op stays unknown
        return []
    return sorted({str(n.target) for n in graph.graph.nodes if n.op == "call_function"})


def _judge_by_decomposition(entry: OpEntry, node, device_target: str = "neuron") -> None:
    """An op the target's table or list does not name, judged by the ops it decomposes into (the
    worst verdict wins): `linear` is `t` and `addmm` in torch-neuronx's XLA list."""
    targets = _decomposed_targets(node)
    parts = [t for t in targets if t.startswith("aten.") and not ignored(t)]
    if not targets:
        return  # no decomposition: it stays unknown
    if not parts:
        entry.status, entry.note = SUPPORTED, "decomposes to " + ", ".join(targets) + " only (no device compute)"
        return
    verdicts = [verdict(t, entry.dtypes, device_target=device_target) for t in parts]
    worst = max(verdicts, key=lambda v: _SEVERITY.index(v.status) if v.status in _SEVERITY else 0)
    entry.status = worst.status
    entry.note = "decomposes to " + ", ".join(parts) + (f"; {worst.note}" if worst.note else "")


def _name(node) -> str:
    return op_name(str(node.target)) if getattr(node, "op", "") == "call_function" else ""


def _arg(node, i: int = 0):
    args = getattr(node, "args", ())
    return args[i] if len(args) > i else None


def _is_square(node) -> bool:
    """x ** 2, x * x or x.square()."""
    name = _name(node)
    if name == "pow":
        return _arg(node, 1) == 2
    if name == "square":
        return True
    return name == "mul" and _arg(node, 0) is not None and _arg(node, 0) is _arg(node, 1)


def _is_mean_square(node) -> bool:
    if _name(node) == "add":  # mean(x^2) + eps
        return any(_is_mean_square(a) for a in node.args if hasattr(a, "op"))
    return _name(node) == "mean" and hasattr(_arg(node), "op") and _is_square(_arg(node))


def _hint(node, kernel: str, pattern: str) -> dict:
    stack = node.meta.get("nn_module_stack") or {}
    module = list(stack.values())[-1][0] if stack else ""
    return {"kernel": kernel, "pattern": pattern, "source": _user_frame(node.meta.get("stack_trace")),
            "module": module}


def kernel_hints(exported) -> list[dict]:
    """Where porter's kernels apply: single ops (softmax, layer_norm, sdpa, ...) and hand-written
    patterns of them (x * rsqrt(mean(x^2) + eps) is an RMSNorm; exp(x - max) / sum(exp) a softmax)."""
    hints = []
    for node in exported.graph.nodes:
        name = _name(node)
        if not name:
            continue
        if name in KERNEL_FOR_OP:
            hints.append(_hint(node, KERNEL_FOR_OP[name], f"aten.{name}"))
        elif name == "rsqrt" and hasattr(_arg(node), "op") and _is_mean_square(_arg(node)):
            hints.append(_hint(node, "rmsnorm", "x * rsqrt(mean(x^2) + eps)"))
        elif name == "div" and hasattr(_arg(node, 1), "op") and _name(_arg(node, 1)) == "sqrt" \
                and hasattr(_arg(_arg(node, 1)), "op") and _is_mean_square(_arg(_arg(node, 1))):
            hints.append(_hint(node, "rmsnorm", "x / sqrt(mean(x^2) + eps)"))
        elif name == "div" and _name(_arg(node, 0)) == "exp" and _name(_arg(node, 1)) == "sum" \
                and _arg(_arg(node, 1)) is _arg(node, 0):
            hints.append(_hint(node, "softmax", "exp(x - max) / sum(exp(x - max))"))
    # One line per (kernel, source): a softmax in a loop of 12 layers is one place to change.
    unique = {}
    for hint in hints:
        unique.setdefault((hint["kernel"], hint["pattern"], hint["source"]), hint)
    return list(unique.values())


def graph_breaks(model, args: tuple, kwargs: dict) -> list[dict]:
    """Graph breaks as TorchDynamo sees them, with the user source line of each."""
    import torch._dynamo

    torch._dynamo.reset()
    try:
        explanation = torch._dynamo.explain(model)(*args, **kwargs)
    except Exception as exc:  # explain itself can fail on exotic models; say so, do not crash
        return [{"reason": f"torch._dynamo.explain failed: {type(exc).__name__}: {exc}", "source": "",
                 "kind": "graph break"}]
    breaks = []
    for reason in explanation.break_reasons:
        source = ""
        if reason.user_stack:
            frame = reason.user_stack[-1]
            source = f"{frame.filename}:{frame.lineno} ({frame.name})"
        text = reason.reason.strip().splitlines()[0] if reason.reason.strip() else ""
        breaks.append({"reason": text, "source": source, "kind": break_kind(text)})
    return breaks


def break_kind(reason: str) -> str:
    """"data-dependent control flow" (a branch on a tensor's value), "data-dependent shape" (an op
    whose output size depends on values), or "graph break"."""
    lowered = reason.lower()
    if "generic_jump" in lowered or "data-dependent" in lowered or "data dependent" in lowered:
        return "data-dependent control flow"
    if "dynamic shape operator" in lowered:
        return "data-dependent shape"
    return "graph break"


def trace_model(model: torch.nn.Module, args: tuple, kwargs: dict, name: str = "model",
                target: str = "neuron") -> TraceReport:
    model.eval()
    report = TraceReport(model=name, exported=False, target=target)
    try:
        with torch.no_grad():
            exported = torch.export.export(model, args, kwargs)
    except Exception as exc:
        report.export_error = _first_line(exc)
        report.graph_breaks = graph_breaks(model, args, kwargs)
        if not report.graph_breaks:
            report.graph_breaks = [{"reason": report.export_error, "source": _user_source(exc),
                                    "kind": break_kind(report.export_error)}]
        return report
    report.exported = True
    report.ops = inventory(exported, target)
    report.kernel_hints = kernel_hints(exported)
    report.graph_breaks = graph_breaks(model, args, kwargs)
    for node in exported.graph.nodes:
        value = node.meta.get("val")
        shape = getattr(value, "shape", None)
        if shape is not None and any(not isinstance(d, int) for d in shape):
            report.dynamic_shapes.append(f"{node.name}: {tuple(shape)}")
    return report


def _user_source(exc: BaseException) -> str:
    """The innermost frame of the exception's traceback outside torch and porter, as path:line (function)."""
    import traceback

    porter_dir = str(Path(__file__).resolve().parents[1])
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith((TORCH_DIR, porter_dir)) and not f.filename.startswith("<")]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} ({frame.name})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def render_text(report: TraceReport) -> str:
    out = [f"porter trace: {report.model} (target {report.target})"]
    if not report.exported:
        out.append(f"torch.export failed: {report.export_error}")
    else:
        total = sum(op.count for op in report.ops)
        out.append(f"{total} aten ops, {len(report.ops)} kinds; Neuron support: {report.support_percent}%")
        for op in report.ops:
            where = f"  [{op.sources[0]}]" if op.sources else ""
            kernel = f"  kernel: {op.kernel}" if op.kernel else ""
            note = f"  ({op.note})" if op.note and op.status != SUPPORTED else ""
            out.append(f"  {op.count:5d}  {op.status:12s} {op.target}{note}{kernel}{where}")
        if report.target == "neuron":
            out.append("verdicts: porter's Neuron operator table (porter/graph/data/torchneuron_ops.json); "
                       "'assumed' ones are not from TorchNeuron's published table")
    if report.graph_breaks:
        out.append(f"graph breaks: {len(report.graph_breaks)}")
        out += [f"  {b['source']}: {b.get('kind', 'graph break')}: {b['reason']}" for b in report.graph_breaks]
    if report.dynamic_shapes:
        out.append("dynamic shapes:")
        out += [f"  {d}" for d in report.dynamic_shapes]
    if report.kernel_hints:
        out.append(f"kernel hints: {len(report.kernel_hints)}")
        out += [f"  {h['kernel']:10s} {h['pattern']}  [{h['source']}]" for h in report.kernel_hints]
    return "\n".join(out) + "\n"


def render_markdown(report: TraceReport) -> str:
    out = [f"# porter trace: `{report.model}`", ""]
    if not report.exported:
        out += [f"torch.export failed: `{report.export_error}`", ""]
    else:
        out += [f"Neuron support: **{report.support_percent}%**", "",
                "| op | count | status | note | kernel | source |", "|---|---|---|---|---|---|"]
        for op in report.ops:
            src = op.sources[0] if op.sources else ""
            out.append(f"| `{op.target}` | {op.count} | {op.status} | {op.note} | {op.kernel} | {src} |")
    if report.graph_breaks:
        out += ["", "## Graph breaks", ""] + [f"- `{b['source']}`: {b.get('kind', 'graph break')}: {b['reason']}"
                                                for b in report.graph_breaks]
    if report.dynamic_shapes:
        out += ["", "## Dynamic shapes", ""] + [f"- `{d}`" for d in report.dynamic_shapes]
    if report.kernel_hints:
        out += ["", "## Kernel hints", "", "| kernel | pattern | source |", "|---|---|---|"]
        out += [f"| {h['kernel']} | `{h['pattern']}` | {h['source']} |" for h in report.kernel_hints]
    return "\n".join(out) + "\n"


def group_sources(report: TraceReport) -> dict[str, list[str]]:
    by_source = defaultdict(list)
    for op in report.ops:
        for source in op.sources:
            by_source[source].append(op.target)
    return dict(by_source)
