"""`porter compile` backends: the real Neuron compiler when the SDK is present, else a CPU stand-in.

Neuron (documented API, needs the SDK and, to run the result, a Neuron host):
- trn1 / inf2 (PyTorch/XLA): `torch_neuronx.trace(model, example_inputs, compiler_args=[...],
  compiler_workdir=...)`, saved with `torch.jit.save`.
- trn2 / trn3 (native TorchNeuron): `torch.compile(model, backend="neuron")`, compiled by its first call.
CPU stand-in: torch.export → ONNX (`torch.onnx.export(..., dynamo=True)`) → onnxruntime's CPU
provider, checked against eager. Every result names the backend that ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from porter import __version__

NEURON_XLA_TARGETS = ("trn1", "inf2")
NEURON_NATIVE_TARGETS = ("trn2", "trn3")
AUTO_CAST = ("none", "matmult", "all")
AUTO_CAST_TYPES = ("bf16", "fp16", "tf32", "fp8_e4m3")
MODEL_TYPES = ("generic", "transformer", "unet-inference")
# How close the ONNX stand-in must come to eager (fp32 kernels differ in summation order).
EAGER_RTOL, EAGER_ATOL = 1e-4, 1e-4


class CompileError(RuntimeError):
    pass


@dataclass(frozen=True)
class CompileOptions:
    target: str = "trn2"
    auto_cast: str = "none"
    auto_cast_type: str = "bf16"
    model_type: str = "generic"
    optlevel: int = 2
    cache_dir: Path | None = None

    def compiler_args(self) -> list[str]:
        """neuronx-cc flags, as documented for `neuronx-cc compile`."""
        args = ["--target", self.target, "--auto-cast", self.auto_cast, "--model-type", self.model_type,
                f"-O{self.optlevel}"]
        if self.auto_cast != "none":
            args += ["--auto-cast-type", self.auto_cast_type]
        return args

    def validate(self) -> None:
        targets = NEURON_XLA_TARGETS + NEURON_NATIVE_TARGETS
        for value, allowed, name in ((self.target, targets, "--target"), (self.auto_cast, AUTO_CAST, "--auto-cast"),
                                     (self.auto_cast_type, AUTO_CAST_TYPES, "--auto-cast-type"),
                                     (self.model_type, MODEL_TYPES, "--model-type")):
            if value not in allowed:
                raise CompileError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        if self.optlevel not in (1, 2, 3):
            raise CompileError(f"-O: {self.optlevel} is not 1, 2 or 3")


@dataclass
class CompileResult:
    backend: str
    artifact: str
    metadata: dict = field(default_factory=dict)
    max_abs_error: float | None = None
    seconds: float = 0.0


def neuron_sdk_available() -> bool:
    """True when the real torch_neuronx is importable (the PyPI placeholder raises ImportError)."""
    if importlib.util.find_spec("torch_neuronx") is None:
        return False
    try:
        import torch_neuronx  # noqa: F401
    except ImportError:
        return False
    return True


def _shapes(args: tuple) -> list:
    return [list(a.shape) if isinstance(a, torch.Tensor) else repr(a) for a in args]


def _write_metadata(path: Path, metadata: dict) -> None:
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")


def neuron_cc_flags(options: CompileOptions, cache_dir: Path | None) -> str:
    """NEURON_CC_FLAGS for the native path: the documented way to pass neuronx-cc options through
    a framework, plus the persistent cache directory when one is given."""
    flags = options.compiler_args()
    if cache_dir is not None:
        flags.append(f"--cache_dir={cache_dir}")
    return " ".join(flags)


@contextmanager
def _environment(**values: str):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def compile_neuron(model: torch.nn.Module, args: tuple, out_dir: Path, options: CompileOptions,
                   sdk: Any = None, compile_fn: Callable[..., Any] | None = None,
                   device: str | torch.device | None = None) -> CompileResult:
    """The real Neuron path. `sdk` is the torch_neuronx module; a test double (see `FakeNeuronSDK`)
    may stand in for it, and `compile_fn` / `device` for torch.compile and the "neuron" device."""
    options.validate()
    if sdk is None:
        if not neuron_sdk_available():
            raise CompileError("the Neuron SDK (torch_neuronx) is not installed here")
        import torch_neuronx as sdk
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    start = time.perf_counter()
    metadata = {
        "porter": __version__,
        "backend": "neuron",
        "target": options.target,
        "compiler_args": options.compiler_args(),
        "input_shapes": _shapes(args),
        "torch_neuronx": getattr(sdk, "__version__", "unknown"),
    }
    if options.target in NEURON_XLA_TARGETS:
        workdir = Path(options.cache_dir) if options.cache_dir else (out_dir / "compiler-workdir")
        traced = sdk.trace(model, args, compiler_args=options.compiler_args(), compiler_workdir=str(workdir))
        artifact = out_dir / "model.neuron.pt"
        torch.jit.save(traced, str(artifact))
        metadata["api"] = "torch_neuronx.trace"
        metadata["compiler_workdir"] = str(workdir)
    else:
        # Native TorchNeuron: compilation happens on the first call on the Neuron device; the
        # compiler options travel in NEURON_CC_FLAGS.
        flags = neuron_cc_flags(options, options.cache_dir)
        compile_fn = compile_fn or torch.compile
        target_device = torch.device(device or "neuron")
        with _environment(NEURON_CC_FLAGS=flags):
            compiled = compile_fn(model.to(target_device), backend="neuron", fullgraph=True)
            with torch.no_grad():
                compiled(*[a.to(target_device) if isinstance(a, torch.Tensor) else a for a in args])
        artifact = out_dir / "model.state_dict.pt"
        torch.save(model.state_dict(), artifact)
        metadata["api"] = 'torch.compile(backend="neuron")'
        metadata["neuron_cc_flags"] = flags
    metadata["seconds"] = round(time.perf_counter() - start, 3)
    _write_metadata(out_dir / "metadata.json", metadata)
    return CompileResult("neuron", str(artifact), metadata, seconds=metadata["seconds"])


class FakeNeuronSDK:
    """A test double for torch_neuronx: records what porter passes to `trace` and returns a
    TorchScript trace of the model (on CPU), so the Neuron path's plumbing can be checked without
    the SDK. It compiles nothing: never evidence that a model runs on Neuron."""

    __version__ = "0.0.0-test-double"

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def trace(self, model, example_inputs, compiler_args=None, compiler_workdir=None):
        self.calls.append({"api": "trace", "compiler_args": list(compiler_args or []),
                           "compiler_workdir": compiler_workdir, "inputs": example_inputs})
        return torch.jit.trace(model, example_inputs)

    def compile(self, model, backend=None, **kwargs):
        """Stands in for torch.compile(backend="neuron"): records the call and NEURON_CC_FLAGS."""
        self.calls.append({"api": "compile", "backend": backend, "kwargs": kwargs,
                           "neuron_cc_flags": os.environ.get("NEURON_CC_FLAGS")})
        return model


def compile_cpu_standin(model: torch.nn.Module, args: tuple, out_dir: Path) -> CompileResult:
    """torch.export → ONNX → onnxruntime (CPU), checked against eager."""
    import numpy as np
    import onnxruntime

    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    artifact = out_dir / "model.onnx"
    start = time.perf_counter()
    try:
        program = torch.onnx.export(model, args, dynamo=True, verbose=False)
        program.save(str(artifact))
    except Exception as exc:
        raise CompileError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    onnx_out = [o.numpy() for o in run_onnx(artifact, args)]
    with torch.no_grad():
        eager = model(*args)
    eager_list = [leaf for leaf in torch.utils._pytree.tree_leaves(eager) if isinstance(leaf, torch.Tensor)]
    if len(onnx_out) != len(eager_list):
        raise CompileError(f"the ONNX model returns {len(onnx_out)} outputs, eager returns {len(eager_list)}")
    errors, matches = [], True
    for o, e in zip(onnx_out, eager_list, strict=True):
        e = e.detach().cpu().numpy()
        if o.shape != e.shape:
            raise CompileError(f"ONNX output shape {o.shape} != eager {e.shape}")
        errors.append(float(np.max(np.abs(o.astype(np.float64) - e.astype(np.float64)))) if o.size else 0.0)
        matches = matches and bool(np.allclose(o, e, rtol=EAGER_RTOL, atol=EAGER_ATOL, equal_nan=True))
    metadata = {
        "porter": __version__,
        "backend": "cpu-onnx",
        "onnxruntime": onnxruntime.__version__,
        "input_shapes": _shapes(args),
        "max_abs_error_vs_eager": max(errors) if errors else 0.0,
        "matches_eager": matches,
        "eager_tolerance": {"rtol": EAGER_RTOL, "atol": EAGER_ATOL},
        "seconds": round(time.perf_counter() - start, 3),
    }
    _write_metadata(out_dir / "metadata.json", metadata)
    return CompileResult("cpu-onnx", str(artifact), metadata, max(errors) if errors else 0.0, metadata["seconds"])


def run_onnx(artifact: Path, args: tuple) -> list[torch.Tensor]:
    """Run an exported model on onnxruntime's CPU provider; positional tensor inputs in order."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    inputs = session.get_inputs()
    if len(inputs) != len(tensors):
        raise CompileError(f"{artifact} takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                           f"{len(tensors)} tensor inputs were given")
    feeds = {i.name: a.detach().cpu().numpy() for i, a in zip(inputs, tensors, strict=True)}
    return [torch.from_numpy(o) for o in session.run(None, feeds)]


def compile_model(model: torch.nn.Module, args: tuple, out_dir: Path, options: CompileOptions,
                  backend: str = "auto") -> CompileResult:
    """backend: auto (Neuron when the SDK is present, else the CPU stand-in), neuron, or cpu."""
    if backend not in ("auto", "neuron", "cpu"):
        raise CompileError(f"backend {backend!r} is not one of auto, neuron, cpu")
    if backend == "neuron" or (backend == "auto" and neuron_sdk_available()):
        return compile_neuron(model, args, out_dir, options)
    options.validate()
    result = compile_cpu_standin(model, args, out_dir)
    # What the Neuron compiler would have been given, for the record.
    result.metadata["neuron_compiler_args_not_used"] = options.compiler_args()
    _write_metadata(Path(out_dir) / "metadata.json", result.metadata)
    return result


def result_dict(result: CompileResult) -> dict:
    return asdict(result)
