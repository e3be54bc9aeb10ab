"""`porter trace`, `porter compile`, `porter parity`: the dynamic half (imports torch, runs user code).

Every heavy import happens inside the command, so `porter --help` and `porter lint` stay torch-free.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
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
        if spec.dtype is not None:
            from porter.parity.models import parse_dtype

            parse_dtype(spec.dtype)
    except EntrypointError as exc:
        raise _fail(str(exc)) from None
    weights = spec.weights_path()
    if weights is not None and not weights.is_file():
        raise _fail(f"{pyproject}: [tool.porter.models.{name}] weights file {weights} does not exist")
    return {"name": name, "factory": spec.factory, "inputs": spec.inputs, "rtol": spec.rtol, "atol": spec.atol,
            "dtype": spec.dtype, "weights": str(weights.resolve()) if weights else None,
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
            from porter.parity.run import _cast_inputs

            model.to(dtype)
            args, kwargs = _cast_inputs(args, kwargs, dtype)
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


def parity(
    root: Annotated[Path, typer.Option(help="The original project (the reference).")] = Path("."),
    candidate_root: Annotated[Path | None, typer.Option(
        help="The ported project: the candidate is the same entrypoint imported from it (default: --root, "
             "which needs --candidate, --golden or --onnx).")] = None,
    name: Name = None,
    model: Model = None,
    inputs: Inputs = None,
    candidate: Annotated[str | None, typer.Option(help="Candidate factory (default: the same entrypoint).")] = None,
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance for every output.")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance for every output.")] = None,
    tolerance: Annotated[list[str] | None, typer.Option(help="Per output: NAME=RTOL,ATOL.")] = None,
    layers: Annotated[bool, typer.Option(help="Compare module by module; name the first divergence.")] = False,
    save_golden: Annotated[Path | None, typer.Option(help="Store inputs, weights and reference outputs.")] = None,
    golden: Annotated[Path | None, typer.Option(help="Check the candidate against a saved golden.")] = None,
    three_way: Annotated[bool, typer.Option(help="Also run a bf16 reference: precision loss or porting bug?")] = False,
    simulate_kernels: Annotated[bool, typer.Option(help="Run porter's NKI kernels in the simulator.")] = False,
    onnx: Annotated[Path | None, typer.Option(help="Candidate: a compiled ONNX artifact (porter compile).")] = None,
    output_format: Annotated[str, typer.Option(help="table, json, junit or markdown.")] = "table",
    output_file: Annotated[Path | None, typer.Option("--output-file", "-o")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds the user code may run.")] = 600.0,
    seed: int = 0,
) -> None:
    """Compare the ported model's outputs with the original's, on CPU. Exit 0 pass, 1 mismatch, 2 error.

    The candidate is the same entrypoint in --candidate-root (the ported tree), another factory
    (--candidate), a saved golden (--golden) or a compiled ONNX artifact (--onnx); one of them is
    required, as the original compared with itself proves nothing. --save-golden alone stores the
    reference's inputs and outputs without comparing anything.
    """
    from porter.parity.output import print_table, render_json, render_junit, render_markdown

    if output_format not in ("table", "json", "junit", "markdown"):
        raise _fail(f"--output-format: {output_format!r} is not one of table, json, junit, markdown")
    _check_dir("--root", root)
    if candidate_root is not None:
        _check_dir("--candidate-root", candidate_root)
    _check_combinations(golden=golden, save_golden=save_golden, onnx=onnx, layers=layers, three_way=three_way,
                        candidate=candidate, candidate_root=candidate_root, simulate_kernels=simulate_kernels)
    if timeout <= 0:
        raise _fail("--timeout must be positive")
    for option, value in (("--atol", atol), ("--rtol", rtol)):
        if value is not None:
            _check_tolerance(option, value)
    spec = model_spec(root, name, model, inputs)
    per_output: dict[str, list] = {}
    sources: dict[str, str] = {}
    for item in tolerance or []:
        key, _, values = item.partition("=")
        try:
            r, a = (float(v) for v in values.split(","))
        except ValueError:
            raise _fail(f"--tolerance {item!r}: expected NAME=RTOL,ATOL") from None
        if not key.strip():
            raise _fail(f"--tolerance {item!r}: expected NAME=RTOL,ATOL")
        key = key.strip()
        per_output[key] = [_check_tolerance(f"--tolerance {item}", r), _check_tolerance(f"--tolerance {item}", a)]
        sources[key] = "--tolerance"
    for key, values in (spec.get("tolerances") or {}).items():
        if key not in per_output:
            per_output[key] = list(values)
            sources[key] = f"{spec['table']} tolerances"
    candidate_factory = candidate or spec["factory"]
    candidate_path = (candidate_root or root).resolve()
    save_only = False
    if (golden is None and onnx is None and candidate_path == root.resolve()
            and candidate_factory == spec["factory"]):
        if save_golden is None:
            raise _fail(
                f"nothing to compare: the candidate would be {candidate_factory} from {root}, the reference itself. "
                f"Port the project (porter port {root} --out PORTED) and pass --candidate-root PORTED, or pass "
                f"--candidate pkg.module:factory, --golden DIR or --onnx FILE; --save-golden DIR alone stores the "
                f"reference's inputs and outputs without a comparison")
        save_only = True
    request = {
        "candidate_root": str(candidate_path),
        "candidate_factory": candidate_factory,
        "inputs": spec["inputs"],
        "reference_root": str(root.resolve()),
        "reference_factory": spec["factory"],
        "inputs_root": str(root.resolve()),
        "seed": seed,
        "rtol": rtol if rtol is not None else spec.get("rtol"),
        "atol": atol if atol is not None else spec.get("atol"),
        "per_output": per_output,
        "tolerance_sources": sources,
        "layers": layers,
        "save_golden": str(save_golden.resolve()) if save_golden else None,
        "save_only": save_only,
        "golden": str(golden.resolve()) if golden else None,
        "three_way": three_way,
        "simulate_kernels": simulate_kernels,
        "onnx_artifact": str(onnx.resolve()) if onnx else None,
        "weights": spec.get("weights"),
        "dtype": spec.get("dtype"),
    }
    result = run_in_subprocess(request, timeout)
    if "error" in result:
        if result.get("kind") in ("usage", "entrypoint"):
            typer.secho(f"porter parity: error: {result['error']}", err=True, fg=typer.colors.RED)
        else:
            typer.secho(f"porter parity: error in user code: {result['error']}", err=True, fg=typer.colors.RED)
        if output_file is not None and output_format != "table":
            # CI still gets a report to upload: a JUnit <error>, a JSON {"error": ..}, a Markdown note.
            _write({"json": render_json, "junit": render_junit, "markdown": render_markdown}[output_format](result),
                   output_file)
        raise typer.Exit(2)
    if output_format == "table" and output_file is None:
        print_table(result)
    else:
        text = {"json": render_json, "junit": render_junit, "markdown": render_markdown,
                "table": render_markdown}[output_format](result)
        _write(text, output_file)
    raise typer.Exit(0 if result.get("passed") or result.get("mode") == "save-golden" else 1)


def _check_combinations(*, golden, save_golden, onnx, layers, three_way, candidate, candidate_root,
                        simulate_kernels) -> None:
    """Options that would be silently ignored together are usage errors."""
    if golden is not None and save_golden is not None:
        raise _fail("--save-golden and --golden exclude each other: save a golden from the original code, then "
                    "check a candidate against it in a second run")
    if golden is not None and onnx is not None:
        raise _fail("--golden and --onnx exclude each other: --golden checks the ported code's eager outputs; "
                    "check the ONNX artifact against the original code with --root ORIGINAL --onnx FILE")
    for flag, on, what in (("--layers", layers, "compares the modules of the reference and the candidate side by "
                            "side"),
                           ("--three-way", three_way, "runs the reference code in fp32 and bf16 next to the "
                            "candidate")):
        if on and golden is not None:
            raise _fail(f"{flag} does not work with --golden: it {what}, and a golden holds outputs only")
        if on and onnx is not None:
            raise _fail(f"{flag} does not work with --onnx: it {what}, and an ONNX artifact is compared by its "
                        f"outputs only")
    if onnx is not None:
        for flag, given in (("--candidate", candidate is not None), ("--candidate-root", candidate_root is not None),
                            ("--simulate-kernels", simulate_kernels)):
            if given:
                raise _fail(f"{flag} does not work with --onnx: the ONNX artifact is the candidate")


def run_in_subprocess(request: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="porter-parity-") as tmp:
        request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        try:
            proc = subprocess.run([*_worker_python(), "-m", "porter.parity.worker", str(request_path),
                                   str(result_path)],
                                  capture_output=True, text=True, timeout=timeout, env=_worker_env())
        except subprocess.TimeoutExpired:
            return {"error": f"the models did not finish within {timeout:g} s (--timeout)"}
        if not result_path.exists():
            tail = (proc.stderr or "").strip().splitlines()[-5:]
            return {"error": f"the parity worker exited with {proc.returncode}: " + " | ".join(tail)}
        return json.loads(result_path.read_text(encoding="utf-8"))


def _worker_python() -> list[str]:
    """The interpreter for the worker: with -P (Python 3.11+) the working directory is not put on
    sys.path, so no model is imported from it; on 3.10 the worker takes it off itself
    (porter.parity.worker.isolate_path), before any user code is imported."""
    return [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


def _worker_env() -> dict[str, str]:
    """The environment of the worker: this process's, with the directory porter was imported from on
    PYTHONPATH, so `-m porter.parity.worker` finds the same porter from any working directory."""
    import porter

    package_parent = str(Path(porter.__file__).resolve().parents[1])
    paths = [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def _write(text: str, output_file: Path | None) -> None:
    if output_file is None:
        sys.stdout.write(text)
    else:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        output_file.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
    app.command("compile")(compile_)
    app.command("parity")(parity)
