"""`porter doctor`: the environment as porter sees it, and what each piece enables.

Nothing here runs at CLI start-up: the command imports torch (to read its build) only when it runs,
and every other check reads package metadata or import specs without importing the package.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer


@dataclass
class Check:
    name: str
    found: bool
    detail: str
    enables: str


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_torch() -> Check:
    version = _version("torch")
    if version is None or not _has_module("torch"):
        return Check("torch", False, "not installed",
                     "needed by trace, compile, parity and the kernel library (install the runtime extra)")
    try:
        import torch
    except Exception as exc:  # a broken install is a finding of its own
        return Check("torch", False, f"{version}, fails to import ({type(exc).__name__}: {exc})",
                     "trace, compile, parity and kernels need an importable torch")
    cuda = getattr(torch.version, "cuda", None)
    hip = getattr(torch.version, "hip", None)
    build = f"CUDA {cuda} build" if cuda else (f"ROCm {hip} build" if hip else "CPU build")
    return Check("torch", True, f"{torch.__version__} ({build})",
                 "trace, compile, parity and the kernel library (reference paths on CPU)")


def check_neuron_sdk() -> Check:
    parts = {name: _version(name) for name in ("torch-neuronx", "neuronx-cc", "libneuronxla", "torch-xla")}
    present = {k: v for k, v in parts.items() if v}
    devices = sorted(p.name for p in Path("/dev").glob("neuron[0-9]*")) if Path("/dev").is_dir() else []
    if not present:
        detail = "not installed (no torch-neuronx, neuronx-cc)"
    else:
        detail = ", ".join(f"{k} {v}" for k, v in present.items())
    detail += f"; Neuron devices: {', '.join(devices) if devices else 'none'}"
    found = bool(present.get("torch-neuronx") or present.get("neuronx-cc"))
    enables = ("the `neuron` device, `porter compile` with neuronx-cc, NKI kernels on hardware" if found
               else "without it: `porter compile` uses the CPU stand-in (ONNX + onnxruntime) and "
                    "ported code falls back to the CPU")
    return Check("neuron-sdk", found, detail, enables)


def _simulator_nki_version() -> str:
    """The NKI release porter's simulator behaves as (PORTER_NKI_VERSION, default the newest)."""
    try:
        from porter.nki.version import ENV, SDK_RELEASE, nki_version
    except ImportError:  # a simulator without version selection
        from porter.nki.api import __version__

        return __version__
    try:
        version = nki_version()
    except Exception as exc:  # an unknown PORTER_NKI_VERSION: say so instead of failing
        return f"unknown ({exc})"
    chosen = f"{ENV}={os.environ[ENV]}" if os.environ.get(ENV, "").strip() else f"default; set {ENV} to choose"
    return f"{version} (as in Neuron {SDK_RELEASE.get(version, '?')}; {chosen})"


def check_nki() -> Check:
    try:
        from porter.nki.install import real_nki_available
    except ImportError as exc:  # porter.nki (the simulator and the probe) needs numpy and ml_dtypes
        real = "an nki package is installed but not probed" if _has_module("nki") else "no real nki"
        return Check("nki", False, f"{real}; porter's simulator needs the runtime extra (no {exc.name})",
                     "nothing: NKI kernels cannot run here")

    if real_nki_available():
        version = _version("nki") or _version("neuronx-cc") or "unknown version"
        return Check("nki", True, f"real nki {version}",
                     "kernels compile and run on Neuron devices; NKI_SIMULATOR=1 runs them in the official simulator")
    return Check("nki", True, f"porter's simulator, NKI {_simulator_nki_version()} (no real nki installed)",
                 "NKI kernels run on CPU in porter's simulator (`porter kernels test`)")


def check_triton() -> Check:
    version = _version("triton")
    if version is None or not _has_module("triton"):
        return Check("triton", False, "not installed",
                     "Triton kernels are only read, not run (translation results are not verified)")
    return Check("triton", True, version,
                 "Triton kernels run on CPU with TRITON_INTERPRET=1: translated kernels are checked against them")


def check_onnxruntime() -> Check:
    version = _version("onnxruntime")
    if version is None or not _has_module("onnxruntime"):
        return Check("onnxruntime", False, "not installed",
                     "`porter compile` has no CPU stand-in (install the runtime extra)")
    return Check("onnxruntime", True, version, "`porter compile`'s CPU stand-in (ONNX export + onnxruntime)")


def run_checks() -> list[Check]:
    return [check_torch(), check_neuron_sdk(), check_nki(), check_triton(), check_onnxruntime()]


def doctor(
    output_format: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """The environment as porter sees it: torch and its build, the Neuron SDK, nki, triton, onnxruntime."""
    if output_format not in ("text", "json"):
        typer.secho(f"porter: error: --output-format: {output_format!r} is not one of text, json",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    from porter import __version__

    checks = run_checks()
    header = {"porter": __version__, "python": platform.python_version(), "executable": sys.executable}
    if output_format == "json":
        sys.stdout.write(json.dumps({**header, "checks": [asdict(c) for c in checks]}, indent=2) + "\n")
        return
    typer.echo(f"porter {__version__} on Python {header['python']} ({sys.executable})")
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = typer.style("ok  ", fg=typer.colors.GREEN) if c.found else typer.style("--  ", fg=typer.colors.YELLOW)
        typer.echo(f"{mark}{c.name:<{width}}  {c.detail}")
        typer.echo(f"    {'':<{width}}  → {c.enables}")
