"""What Neuron makes of an aten operator: supported, CPU fallback, unsupported, or supported with a caveat.

Two targets, two sources:

* `neuron` (TorchNeuron, the default): the Neuron operator table (porter/graph/neuron_ops.py, the same
  table the emulated device reads): Y → supported, CPU_FALLBACK → cpu fallback, N → unsupported;
  an op missing from it is "unknown". Entries the table marks ASSUMED say so in the note.
* `xla` (torch-neuronx on PyTorch/XLA): the documented supported-operator list of the XLA package.
  `neuronx-cc list-operators --framework XLA` on a Neuron host is the authoritative list.

Dtype rules from the neuronx-cc error-code pages (complex, float64, int64, integer topk and
scatter_reduce) apply to both. An op the sources say nothing about is "unknown", never silently
"supported".
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED = "supported"
UNSUPPORTED = "unsupported"
CAVEAT = "caveat"
FALLBACK = "cpu fallback"
UNKNOWN = "unknown"
TARGETS = ("neuron", "xla")


@dataclass(frozen=True)
class Verdict:
    status: str
    note: str = ""


# The torch-neuronx supported-operator list (aten names, without overload).
DOCUMENTED_SUPPORTED = frozenset({
    "_s_where", "_softmax", "_softmax_backward_data", "_unsafe_view", "add", "addcdiv_", "addcmul", "addmm",
    "bernoulli_", "bmm", "constant_pad_nd", "div", "embedding", "embedding_dense_backward", "empty", "expand",
    "fill_", "index_select", "_log_softmax", "_log_softmax_backward_data", "lt", "mm", "mul",
    "native_batch_norm", "native_batch_norm_backward", "neg", "permute", "relu", "rsub", "select", "slice",
    "sqrt", "sum", "t", "tanh", "tanh_backward", "threshold_backward", "transpose", "unsqueeze", "view", "zero_",
})

# Operators whose lowering the Neuron documents describe as unsupported, with the document's reason.
DOCUMENTED_UNSUPPORTED = {
    "sort": "not supported by neuronx-cc (torch_neuronx.trace partitioner example)",
    "argsort": "a sort: not supported by neuronx-cc",
    "fft_fft": "aten::fft_fft fails in neuronx-cc (torch_neuronx.analyze example)",
    "fft_rfft": "FFT: not supported by neuronx-cc",
    "fft_ifft": "FFT: not supported by neuronx-cc",
    "fft_irfft": "FFT: not supported by neuronx-cc",
    "nonzero": "data-dependent output shape: unsupported under trace",
    "masked_select": "data-dependent output shape: unsupported under trace",
    "unique": "data-dependent output shape: unsupported under trace",
    "_unique2": "data-dependent output shape: unsupported under trace",
    "triangular_solve": "NCC_EUOC002 unsupported operator; use torch.inverse(A) @ b",
    "linalg_solve_triangular": "NCC_EUOC002 unsupported operator; use torch.inverse(A) @ b",
}

# Transient / bookkeeping nodes that never reach the compiler.
IGNORED = frozenset({"sym_size", "sym_numel", "sym_stride", "sym_storage_offset", "_assert_async",
                     "_assert_scalar", "_assert_tensor_metadata", "alias", "lift_fresh_copy", "detach",
                     "_to_copy", "clone"})


def op_name(target: str) -> str:
    """`aten.linear.default` → `linear`."""
    parts = target.split(".")
    if parts and parts[0] == "aten":
        parts = parts[1:]
    return parts[0] if parts else target


# Composite aten ops that reach the compiler as a documented op.
ALIASES = {"softmax": "_softmax", "log_softmax": "_log_softmax"}


# Ops with index operands: the positions of their data operands (the tensors the documented integer
# restrictions are about) among the node's inputs and among its outputs. A float topk returns int64
# indices and a float scatter_reduce takes an int64 index: neither is an integer op.
DATA_OPERANDS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "topk": ((0,), (0,)),               # topk(self, k, ...) -> (values, indices)
    "scatter_reduce": ((0, 3), (0,)),   # scatter_reduce(self, dim, index, src, reduce, ...) -> like self
}


def verdict(target: str, dtypes: set[str], data_dtypes: set[str] | None = None, *,
            device_target: str = "neuron") -> Verdict:
    """The verdict for one op, given the dtypes of its inputs and outputs (`dtypes`) and, for an op
    with index operands (DATA_OPERANDS), the dtypes of its data operands alone (`data_dtypes`; all
    of `dtypes` when not given): the integer rules for topk and scatter_reduce judge the data.

    An op the documents call unsupported stays unsupported whatever its dtypes (a float64 sort is
    still a sort); dtype caveats only qualify an op that could otherwise run.
    """
    if device_target == "neuron":
        return _neuron_verdict(target, dtypes, data_dtypes)
    if device_target != "xla":
        raise ValueError(f"unknown target {device_target!r}: expected one of {', '.join(TARGETS)}")
    name = op_name(target)
    if name in DOCUMENTED_UNSUPPORTED:
        return Verdict(UNSUPPORTED, DOCUMENTED_UNSUPPORTED[name])
    if any(d.startswith("complex") for d in dtypes):
        return Verdict(UNSUPPORTED, "complex dtypes are not supported on device (NCC_EVRF004)")
    data = dtypes if data_dtypes is None else data_dtypes
    if name == "topk" and data & {"int32", "int64", "int16", "int8"}:
        return Verdict(UNSUPPORTED, "topk on integers (NCC_EVRF013): cast to float first")
    if name.startswith("scatter_reduce") and data & {"int32", "int64", "bool"}:
        return Verdict(UNSUPPORTED, "scatter_reduce on int/bool (NCC_EVRF016)")
    if "float64" in dtypes:
        return Verdict(CAVEAT, "no float64 on Neuron: computed in a lower precision")
    if "int64" in dtypes:
        return Verdict(CAVEAT, "int64 is downcast to int32 unless --native-int64=enabled (trn2+)")
    base = ALIASES.get(name, name)
    if base in DOCUMENTED_SUPPORTED or base.rstrip("_") in DOCUMENTED_SUPPORTED:
        return Verdict(SUPPORTED)
    return Verdict(UNKNOWN, "not in the documented list; check with neuronx-cc list-operators")


def _dtype_verdict(name: str, dtypes: set[str], data_dtypes: set[str] | None) -> Verdict | None:
    """The neuronx-cc dtype rules; None when none applies."""
    if any(d.startswith("complex") for d in dtypes):
        return Verdict(UNSUPPORTED, "complex dtypes are not supported on device (NCC_EVRF004)")
    data = dtypes if data_dtypes is None else data_dtypes
    if name == "topk" and data & {"int32", "int64", "int16", "int8"}:
        return Verdict(UNSUPPORTED, "topk on integers (NCC_EVRF013): cast to float first")
    if name.startswith("scatter_reduce") and data & {"int32", "int64", "bool"}:
        return Verdict(UNSUPPORTED, "scatter_reduce on int/bool (NCC_EVRF016)")
    return None


def _neuron_verdict(target: str, dtypes: set[str], data_dtypes: set[str] | None) -> Verdict:
    from porter.graph import neuron_ops

    found = neuron_ops.lookup(target)
    if found.verdict == neuron_ops.N:
        return Verdict(UNSUPPORTED, neuron_ops.basis_text(found.basis))
    if found.verdict == neuron_ops.CPU_FALLBACK:
        return Verdict(FALLBACK, found.note or neuron_ops.basis_text(found.basis))
    if found.verdict == neuron_ops.UNKNOWN:
        return Verdict(UNKNOWN, "not in the Neuron operator table")
    by_dtype = _dtype_verdict(found.op, dtypes, data_dtypes)
    if by_dtype is not None:
        return by_dtype
    if "float64" in dtypes:
        return Verdict(CAVEAT, "no float64 on Neuron: computed in a lower precision")
    if "int64" in dtypes:
        return Verdict(CAVEAT, "int64 is downcast to int32 unless --native-int64=enabled (trn2+)")
    return Verdict(SUPPORTED, f"assumed ({found.basis})" if found.assumed else "")


def ignored(target: str) -> bool:
    """Bookkeeping nodes (shape queries, runtime asserts, copies) that never reach the compiler."""
    return op_name(target) in IGNORED
