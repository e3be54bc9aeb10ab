"""`porter parity`: the options, their checks, the worker subprocess, the reports. Exit codes: 0 pass,
1 mismatch (or a marginal error ratio not allowed), 2 error."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from porter.commands.dynamic import Inputs, Model, Name, _check_dir, _check_tolerance, _fail, _write, model_spec

VERDICTS = ("auto", "ratio", "tolerance")
CANDIDATE_DEVICES = ("neuron", "cpu")
REFERENCE_DEVICES = ("cpu", "cuda")
BASELINES = ("auto", "fp32", "perturb")
PRECISION_MODES = ("auto", "cast", "autocast")
FORMATS = ("table", "json", "junit", "markdown")


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
    candidate_device: Annotated[str, typer.Option(
        envvar="PORTER_CANDIDATE_DEVICE",
        help="Where the candidate runs: neuron (porter's emulated Neuron device: Neuron's operator coverage, "
             "NKI kernels in the simulator) or cpu.")] = "neuron",
    reference_device: Annotated[str, typer.Option(
        help="Where the reference runs: cpu, or cuda (porter's CUDA emulation, for code that needs a GPU).")] = "cpu",
    candidate_dtype: Annotated[str | None, typer.Option(
        help="The candidate's precision (e.g. bfloat16). Below the reference's, the ratio verdict is the "
             "default.")] = None,
    verdict: Annotated[str, typer.Option(
        help="auto (ratio when the candidate's precision is lower), ratio (three runs) or tolerance.")] = "auto",
    baseline: Annotated[str, typer.Option(
        help="Ratio verdict baseline: auto (fp32, else perturbation), fp32 or perturb.")] = "auto",
    precision: Annotated[str, typer.Option(
        help="How lower-precision runs are made: auto (cast, else autocast), cast or autocast.")] = "auto",
    max_ratio: Annotated[float, typer.Option(help="Error ratio that passes.")] = 1.2,
    marginal_ratio: Annotated[float, typer.Option(help="Error ratio up to which the result is marginal.")] = 2.0,
    allow_marginal: Annotated[bool, typer.Option(help="A marginal error ratio exits 0.")] = False,
    train_steps: Annotated[int, typer.Option(
        help="Training parity: run this many optimizer steps on both sides and compare losses, gradients, "
             "parameters and optimizer state after each.")] = 0,
    optimizer: Annotated[str | None, typer.Option(
        help="Training parity optimizer: pkg.module:factory (called with the model, resolved in each root) or "
             "a torch.optim spec such as 'AdamW(lr=1e-3, weight_decay=0.1)'. Default: the model table's.")] = None,
    loss: Annotated[str | None, typer.Option(
        help="Training parity loss: pkg.module:function, called as loss(output, *inputs), resolved in each "
             "root. Default: the model table's.")] = None,
    layers: Annotated[bool, typer.Option(help="Compare module by module; name the first divergence.")] = False,
    save_golden: Annotated[Path | None, typer.Option(help="Store inputs, weights and reference outputs.")] = None,
    golden: Annotated[Path | None, typer.Option(help="Check the candidate against a saved golden.")] = None,
    three_way: Annotated[bool, typer.Option(
        help="The ratio verdict at bfloat16 (unless --candidate-dtype is lower).")] = False,
    simulate_kernels: Annotated[bool, typer.Option(help="Run porter's NKI kernels in the simulator.")] = False,
    onnx: Annotated[Path | None, typer.Option(help="Candidate: a compiled ONNX artifact (porter compile).")] = None,
    output_format: Annotated[str, typer.Option(help="table, json, junit or markdown.")] = "table",
    output_file: Annotated[Path | None, typer.Option("--output-file", "-o")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML report here.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Also write the Markdown report (a PR comment) here.")] = None,
    junit_xml: Annotated[Path | None, typer.Option(help="Also write the JUnit XML report here.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds the user code may run.")] = 600.0,
    seed: int = 0,
) -> None:
    """Compare the ported model with the original: outputs, layers or training steps. Exit 0 pass, 1 mismatch, 2 error.

    The reference runs on the CPU (or under CUDA emulation),
    the candidate on porter's emulated Neuron device (or the CPU).
    A candidate at a lower precision is judged by the three-run error ratio;
    otherwise every output must be within its tolerance.

    The candidate is the same entrypoint in --candidate-root (the ported tree),
    another factory (--candidate), a saved golden (--golden)
    or a compiled ONNX artifact (--onnx); one of them is required,
    as the original compared with itself proves nothing.
    --save-golden alone stores the reference's inputs and outputs, comparing nothing.
    """
    from porter.parity.output import print_table, render_json, render_junit, render_markdown

    if output_format not in FORMATS:
        raise _fail(f"--output-format: {output_format!r} is not one of {', '.join(FORMATS)}")
    for option, value, allowed in (("--verdict", verdict, VERDICTS), ("--baseline", baseline, BASELINES),
                                   ("--precision", precision, PRECISION_MODES),
                                   ("--candidate-device", candidate_device, CANDIDATE_DEVICES),
                                   ("--reference-device", reference_device, REFERENCE_DEVICES)):
        if value not in allowed:
            raise _fail(f"{option}: {value!r} is not one of {', '.join(allowed)}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise _fail(f"--timeout must be a positive number of seconds, not {timeout:g}")
    if not (math.isfinite(max_ratio) and max_ratio > 0):
        raise _fail(f"--max-ratio must be a positive number, not {max_ratio:g}")
    if not (math.isfinite(marginal_ratio) and marginal_ratio >= max_ratio):
        raise _fail(f"--marginal-ratio must be a number >= --max-ratio ({max_ratio:g}), not {marginal_ratio:g}")
    _check_dir("--root", root)
    if candidate_root is not None:
        _check_dir("--candidate-root", candidate_root)
    if train_steps < 0:
        raise _fail(f"--train-steps must be >= 0, not {train_steps}")
    if train_steps:
        for flag, given in (("--golden", golden is not None), ("--save-golden", save_golden is not None),
                            ("--onnx", onnx is not None), ("--three-way", three_way), ("--layers", layers),
                            ("--candidate-dtype", candidate_dtype is not None),
                            ("--verdict ratio", verdict == "ratio")):
            if given:
                raise _fail(f"{flag} does not work with --train-steps: training parity compares two trainings "
                            f"step by step, at the models' own precision")
    elif optimizer is not None or loss is not None:
        raise _fail("--optimizer and --loss belong to training parity: add --train-steps N")
    _check_combinations(golden=golden, save_golden=save_golden, onnx=onnx, layers=layers, three_way=three_way,
                        candidate=candidate, candidate_root=candidate_root, simulate_kernels=simulate_kernels,
                        ratio=verdict == "ratio" or candidate_dtype is not None)
    for option, value in (("--atol", atol), ("--rtol", rtol)):
        if value is not None:
            _check_tolerance(option, value)
    spec = model_spec(root, name, model, inputs)
    if candidate_dtype is not None:
        _check_dtype("--candidate-dtype", candidate_dtype)
    per_output, sources = _per_output_tolerances(tolerance, spec)
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
        "model_name": spec.get("name") or spec["factory"],
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
        "candidate_dtype": candidate_dtype or spec.get("candidate_dtype"),
        "verdict": verdict,
        "baseline": baseline,
        "precision_mode": precision,
        "max_ratio": max_ratio,
        "marginal_ratio": marginal_ratio,
        "allow_marginal": allow_marginal,
        "candidate_device": "cpu" if onnx is not None else candidate_device,
        "reference_device": reference_device,
        "train_steps": train_steps,
        "optimizer": optimizer or spec.get("optimizer"),
        "loss": loss or spec.get("loss"),
    }
    result = run_in_subprocess(request, timeout)
    # side reports, written whatever happened: CI uploads them, a PR comment shows the error too
    if html is not None:
        from porter.parity.html import render_html

        _write(render_html(result), html)
    if markdown is not None:
        _write(render_markdown(result), markdown)
    if junit_xml is not None:
        _write(render_junit(result), junit_xml)
    if "error" in result:
        kind = result.get("kind")
        prefix = {"usage": "error", "entrypoint": "error", "input": "error", "porter": "porter's own run failed",
                  "timeout": "error"}.get(kind, "error in user code")
        message = result["error"] if kind == "porter" else f"{prefix}: {result['error']}"
        typer.secho(f"porter parity: {message}", err=True, fg=typer.colors.RED)
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


def _check_dtype(option: str, value: str) -> None:
    from porter.graph.entrypoints import EntrypointError
    from porter.parity.models import parse_dtype

    try:
        parse_dtype(value)
    except EntrypointError as exc:
        raise _fail(f"{option}: {exc}") from None


def _per_output_tolerances(tolerance: list[str] | None, spec: dict) -> tuple[dict, dict]:
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
    return per_output, sources


def _check_combinations(*, golden, save_golden, onnx, layers, three_way, candidate, candidate_root,
                        simulate_kernels, ratio) -> None:
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
                            "candidate"),
                           ("--verdict ratio / --candidate-dtype", ratio, "runs the reference code at two "
                            "precisions next to the candidate")):
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
    """The worker's result. The worker leads a process group of its own: at the timeout the whole
    group is killed, so nothing the user's code started (data loader workers, a compiler) lives on."""
    with tempfile.TemporaryDirectory(prefix="porter-parity-") as tmp:
        request_path, result_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        proc = subprocess.Popen([*_worker_python(), "-m", "porter.parity.worker", str(request_path),
                                 str(result_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_worker_env(), start_new_session=True)
        try:
            _stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"error": f"the models did not finish within {timeout:g} s (--timeout)", "kind": "timeout"}
        finally:
            _kill_group(proc)  # whatever the worker left running in its group
        if not result_path.exists():
            tail = (stderr or "").strip().splitlines()[-5:]
            return {"error": f"the parity worker exited with {proc.returncode}: " + " | ".join(tail)}
        return json.loads(result_path.read_text(encoding="utf-8"))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None or proc.returncode is None:
        proc.communicate()


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
