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
import time
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


def compile_neuron(model: torch.nn.Module, args: tuple, out_dir: Path, options: CompileOptions,
                   sdk: Any = None) -> CompileResult:
    """The real Neuron path. `sdk` is the torch_neuronx module (a test double may stand in for it)."""
    options.validate()
    if sdk is None:
        if not neuron_sdk_available():
            raise CompileError("the Neuron SDK (torch_neuronx) is not installed here")
        import torch_neuronx as sdk
    out_dir.mkdir(parents=True, exist_ok=True)
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
        workdir = options.cache_dir or (out_dir / "compiler-workdir")
        traced = sdk.trace(model, args, compiler_args=options.compiler_args(), compiler_workdir=str(workdir))
        artifact = out_dir / "model.neuron.pt"
        torch.jit.save(traced, str(artifact))
        metadata["api"] = "torch_neuronx.trace"
    else:
        # Native TorchNeuron: compilation happens on the first call on the Neuron device.
        compiled = torch.compile(model, backend="neuron")
        device = torch.device("neuron")
        compiled.to(device)(*[a.to(device) if isinstance(a, torch.Tensor) else a for a in args])
        artifact = out_dir / "model.state_dict.pt"
        torch.save(model.state_dict(), artifact)
        metadata["api"] = 'torch.compile(backend="neuron")'
    metadata["seconds"] = round(time.perf_counter() - start, 3)
    _write_metadata(out_dir / "metadata.json", metadata)
    return CompileResult("neuron", str(artifact), metadata, seconds=metadata["seconds"])


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
    session = onnxruntime.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.detach().cpu().numpy() for i, a in zip(session.get_inputs(), args, strict=True)}
    onnx_out = session.run(None, feeds)
    with torch.no_grad():
        eager = model(*args)
    eager_list = [eager] if isinstance(eager, torch.Tensor) else list(torch.utils._pytree.tree_leaves(eager))
    errors = [float(np.max(np.abs(o - e.detach().cpu().numpy()))) if o.size else 0.0
              for o, e in zip(onnx_out, eager_list, strict=True)]
    metadata = {
        "porter": __version__,
        "backend": "cpu-onnx",
        "onnxruntime": onnxruntime.__version__,
        "input_shapes": _shapes(args),
        "max_abs_error_vs_eager": max(errors) if errors else 0.0,
        "seconds": round(time.perf_counter() - start, 3),
    }
    _write_metadata(out_dir / "metadata.json", metadata)
    return CompileResult("cpu-onnx", str(artifact), metadata, max(errors) if errors else 0.0, metadata["seconds"])


def run_onnx(artifact: Path, args: tuple) -> list[torch.Tensor]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.detach().cpu().numpy() for i, a in zip(session.get_inputs(), args, strict=True)}
    return [torch.from_numpy(o) for o in session.run(None, feeds)]


def compile_model(model: torch.nn.Module, args: tuple, out_dir: Path, options: CompileOptions,
                  backend: str = "auto") -> CompileResult:
    """backend: auto (Neuron when the SDK is present, else the CPU stand-in), neuron, or cpu."""
    if backend == "neuron" or (backend == "auto" and neuron_sdk_available()):
        return compile_neuron(model, args, out_dir, options)
    options.validate()
    return compile_cpu_standin(model, args, out_dir)


def result_dict(result: CompileResult) -> dict:
    return asdict(result)
