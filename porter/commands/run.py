"""`porter run`: a program on an emulated Neuron device (or CUDA GPU), with a run report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def run(
    ctx: typer.Context,
    device: Annotated[str, typer.Option(help="Device to emulate: neuron or cuda.")] = "neuron",
    platform: Annotated[str, typer.Option(help="Neuron platform: trn2 or trn3 (HBM per NeuronCore).")] = "trn2",
    cores: Annotated[int, typer.Option(help="How many devices the emulated machine has.")] = 1,
    strict: Annotated[bool, typer.Option(help="An op that would fall back to the CPU raises instead.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the run report (.json, .md, else text).")] = None,
    force: Annotated[bool, typer.Option(help="Emulate even where a real Neuron SDK is present.")] = False,
    module: Annotated[str | None, typer.Option("-m", help="Run a module, like python -m.")] = None,
    profile: Annotated[str | None, typer.Option(help="--device cuda: GPU to emulate (a100, h100, v100).")]
    = None,
    log: Annotated[str | None, typer.Option(help="--device cuda: intercepted-call log file.")] = None,
) -> None:
    """Run `-- python script.py ARGS` (or `-m module ARGS`) with every Python process on the emulated device.

    The program's output and exit code pass through; the run report (ops by verdict, CPU fallbacks with
    source lines, NKI kernel calls, autocast casts, compiled graphs, peak device memory) goes to --report,
    or as text to stderr.
    """
    from porter.emulate.run import RunError, RunOptions
    from porter.emulate.run import run as run_program

    options = RunOptions(command=list(ctx.args), device=device, platform=platform, cores=cores, strict=strict,
                         force=force, report=report, module=module, cuda_profile=profile, cuda_log=log)
    try:
        code, result = run_program(options)
    except RunError as exc:
        typer.secho(f"porter run: error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    if report is not None:
        result.write(report)
        typer.echo(f"porter run: report written to {report}", err=True)
    else:
        sys.stderr.write(result.render_text())
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                         "allow_interspersed_args": False})(run)
