"""`porter trace`, `porter compile` (and the shared model lookup of `porter parity`): the dynamic half.

Every heavy import happens inside the command, so `porter --help` and `porter lint` stay torch-free.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from porter.config import ConfigError, read_pyproject


def _fail(message: str) -> typer.Exit:
    typer.secho(f"porter: error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def model_spec(root: Path, name: str | None, model: str | None, inputs: str | None) -> dict:
    """The model entrypoints: --model/--inputs, or [tool.porter.models.NAME] in root/pyproject.toml."""
    from porter.graph.entrypoints import EntrypointError, ModelSpec

    _check_dir("--root", root)
    if model or inputs:
        if not (model and inputs):
            raise _fail("--model and --inputs go together (pkg.module:function each)")
        for option, value in (("--model", model), ("--inputs", inputs)):
            if ":" not in value:
                raise _fail(f"{option} {value!r}: expected pkg.module:function")
        return {"factory": model, "inputs": inputs}
    pyproject = root / "pyproject.toml"
    try:
        table = read_pyproject(pyproject) if pyproject.is_file() else None
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    models = (table or {}).get("models", {})
    if not isinstance(models, dict) or not models:
        raise _fail(f"no model given: pass --model and --inputs, or add [tool.porter.models.NAME] to {pyproject}")
    if name is None:
        if len(models) > 1:
            raise _fail(f"{pyproject} defines several models ({', '.join(models)}): choose one with --name")
        name = next(iter(models))
    if name not in models:
        raise _fail(f"{pyproject}: no [tool.porter.models.{name}]")
    if not isinstance(models[name], dict):
        raise _fail(f"{pyproject}: [tool.porter.models.{name}] must be a table")
    try:
        spec = ModelSpec.from_table(name, models[name], root, str(pyproject))
        from porter.parity.models import parse_dtype

        for dtype in (spec.dtype, spec.candidate_dtype):
            parse_dtype(dtype)
    except EntrypointError as exc:
        raise _fail(str(exc)) from None
    weights = spec.weights_path()
    if weights is not None and not weights.is_file():
        raise _fail(f"{pyproject}: [tool.porter.models.{name}] weights file {weights} does not exist")
    return {"name": name, "factory": spec.factory, "inputs": spec.inputs, "rtol": spec.rtol, "atol": spec.atol,
            "dtype": spec.dtype, "candidate_dtype": spec.candidate_dtype, "loss": spec.loss,
            "optimizer": spec.optimizer, "weights": str(weights.resolve()) if weights else None,
            "tolerances": spec.per_output, "table": f"{pyproject} [tool.porter.models.{name}]"}


def _check_dir(option: str, path: Path) -> None:
    if not path.exists():
        raise _fail(f"{option} {path}: the directory does not exist")
    if not path.is_dir():
        raise _fail(f"{option} {path}: not a directory")


def _check_tolerance(where: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise _fail(f"{where}: a tolerance must be a finite number >= 0, not {value:g}")
    return value


def _load(root: Path, spec: dict, seed: int):
    """The model (with the same weights `porter parity` gives it) and its example inputs."""
    from porter.graph.entrypoints import EntrypointError
    from porter.graph.loader import build, example_inputs
    from porter.parity.models import load_weights, parse_dtype, seeded_state

    try:
        model = build(root, spec["factory"], seed)
        state = load_weights(Path(spec["weights"])) if spec.get("weights") else seeded_state(model, seed)
        model.load_state_dict(state)
        args, kwargs = example_inputs(root, spec["inputs"], seed)
        dtype = parse_dtype(spec.get("dtype"))
        if dtype is not None:
            from porter.parity.precision import cast_inputs, cast_model

            cast_model(model, dtype)
            args, kwargs = cast_inputs(args, kwargs, dtype)
    except EntrypointError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # the user's factory or inputs raised: an error (2), not a finding (1)
        raise _fail(f"error in user code while loading {spec['factory']}: {type(exc).__name__}: {exc}") from None
    return model, args, kwargs


Root = Annotated[Path, typer.Option(help="The project the entrypoints are imported from.")]
Model = Annotated[str | None, typer.Option(help="Model factory, pkg.module:function.")]
Inputs = Annotated[str | None, typer.Option(help="Example inputs, pkg.module:function.")]
Name = Annotated[str | None, typer.Option(help="A model named in pyproject.toml under tool.porter.models.")]


def trace(
    root: Root = Path("."),
    name: Name = None,
    model: Model = None,
    inputs: Inputs = None,
    output_format: Annotated[str, typer.Option(help="text, json or markdown.")] = "text",
    output_file: Annotated[Path | None, typer.Option("--output-file", "-o")] = None,
    seed: int = 0,
    target: Annotated[str, typer.Option(help="neuron (TorchNeuron's operator table) or xla (torch-neuronx's "
                                             "XLA operator list).")] = "neuron",
) -> None:
    """torch.export the model; list its aten ops with a Neuron verdict each, graph breaks, kernels."""
    from porter.graph.trace import render_markdown, render_text, trace_model

    if output_format not in ("text", "json", "markdown"):
        raise _fail(f"--output-format: {output_format!r} is not one of text, json, markdown")
    if target not in ("neuron", "xla"):
        raise _fail(f"--target: {target!r} is not one of neuron, xla")
    spec = model_spec(root, name, model, inputs)
    net, args, kwargs = _load(root, spec, seed)
    report = trace_model(net, args, kwargs, spec.get("name") or spec["factory"], target=target)
    text = {"text": render_text, "markdown": render_markdown,
            "json": lambda r: json.dumps(r.to_dict(), indent=2) + "\n"}[output_format](report)
    _write(text, output_file)
    unsupported = [op for op in report.ops if op.status == "unsupported"]
    raise typer.Exit(1 if (unsupported or not report.exported) else 0)


def compile_(
    root: Root = Path("."),
    name: Name = None,
    model: Model = None,
    inputs: Inputs = None,
    out: Annotated[Path, typer.Option(help="Where the artifact and its metadata go.")] = Path("porter-compiled"),
    backend: Annotated[str, typer.Option(help="auto (Neuron when the SDK is present), neuron or cpu.")] = "auto",
    target: Annotated[str, typer.Option(help="trn1, inf2 (torch_neuronx.trace); trn2, trn3 (torch.compile).")] = "trn2",
    auto_cast: Annotated[str, typer.Option(help="none, matmult or all.")] = "none",
    auto_cast_type: Annotated[str, typer.Option(help="bf16, fp16, tf32 or fp8_e4m3.")] = "bf16",
    model_type: Annotated[str, typer.Option(help="generic, transformer or unet-inference.")] = "generic",
    optlevel: Annotated[int, typer.Option("-O", help="neuronx-cc optimisation level 1-3.")] = 2,
    cache_dir: Annotated[Path | None, typer.Option(help="Compiler work/cache directory.")] = None,
    seed: int = 0,
) -> None:
    """Compile the model: the Neuron compiler when the SDK is present, else the ONNX CPU stand-in."""
    from porter.compile.backends import CompileError, CompileOptions, compile_model

    if backend not in ("auto", "neuron", "cpu"):
        raise _fail(f"--backend: {backend!r} is not one of auto, neuron, cpu")
    options = CompileOptions(target=target, auto_cast=auto_cast, auto_cast_type=auto_cast_type,
                             model_type=model_type, optlevel=optlevel, cache_dir=cache_dir)
    spec = model_spec(root, name, model, inputs)
    net, args, kwargs = _load(root, spec, seed)
    if kwargs:
        raise _fail("compile takes positional example inputs only")
    try:
        result = compile_model(net, args, out, options, backend)
    except CompileError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # onnxruntime or the user's forward failed: an error, not a result
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _fail(f"compile failed: {type(exc).__name__}: {first_line}") from None
    if result.backend == "neuron":
        typer.echo(f"backend: {result.backend} ({result.metadata.get('api', '')})")
    else:
        typer.echo(f"backend: {result.backend} (CPU stand-in: ONNX + onnxruntime; the Neuron SDK did not run)")
    typer.echo(f"artifact: {result.artifact}")
    if result.max_abs_error is not None:
        typer.echo(f"max abs error vs eager: {result.max_abs_error:.3g}")
    typer.echo(f"metadata: {Path(result.artifact).parent / 'metadata.json'}")
    if result.metadata.get("matches_eager") is False:
        typer.secho("porter compile: the compiled model does not match eager", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


def _write(text: str, output_file: Path | None) -> None:
    if output_file is None:
        sys.stdout.write(text)
    else:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        output_file.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    from porter.commands.parity import parity

    app.command("trace")(trace)
    app.command("compile")(compile_)
    app.command("parity")(parity)
