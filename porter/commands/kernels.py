"""`porter kernels list|test|bench|profile`: porter's NKI kernel library, run on CPU through the NKI simulator.

torch, NumPy and the simulator are imported inside the commands, so `porter --help` stays light.
"""

from __future__ import annotations

import json
import platform
import sys
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="kernels",
    help="NKI kernel library: list, test, bench, profile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DTYPE_CHOICES = ("float32", "bfloat16")


def register(parent: typer.Typer) -> None:
    """Add the `kernels` sub-app to porter's CLI."""
    parent.add_typer(app, name="kernels", help="NKI kernel library: list, test, bench, profile.")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"porter: error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def _registry():
    try:
        from porter.kernels import registry
    except ImportError as exc:  # torch missing
        message = f"the kernel library needs the runtime extra (pip install 'neuron-porter[runtime]'): {exc}"
        raise _fail(message) from None
    return registry


def _specs(name: str | None) -> list[Any]:
    registry = _registry()
    if name is None:
        return registry.all_specs()
    try:
        return [registry.get(name)]
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None


def _dtypes(dtype: str | None, spec: Any) -> list[str]:
    if dtype is None:
        return list(spec.dtypes)
    if dtype not in DTYPE_CHOICES:
        raise _fail(f"--dtype: {dtype!r} is not one of {', '.join(DTYPE_CHOICES)}")
    return [dtype]


def _cases(spec: Any, case: str | None) -> list[Any]:
    if case is None:
        return list(spec.cases)
    if case == "bench" and spec.bench_case is not None:
        return [spec.bench_case]
    chosen = [c for c in spec.cases if case in c.label]
    if spec.bench_case is not None and case in spec.bench_case.label:
        chosen.append(spec.bench_case)
    return chosen


def _simulator_ready() -> None:
    from porter.kernels import _runtime

    try:
        _runtime.ensure_nki(simulated=True)
    except _runtime.NkiUnavailableError as exc:
        raise _fail(str(exc)) from None


@app.command("list")
def list_kernels(
    output_format: Annotated[str, typer.Option("--output-format", help="text or json.")] = "text",
) -> None:
    """List the kernels, their NKI kernel functions, test grids and tolerances."""
    specs = _specs(None)
    if output_format == "json":
        records = [{
            "name": s.name,
            "summary": s.summary,
            "nki_kernels": [f"porter.kernels.device.{s.device_module}.{k}" for k in s.kernel_names],
            "reference": f"{s.reference.__module__}.{s.reference.__name__}",
            "cases": [{"label": c.label, **c.params} for c in s.cases],
            "dtypes": list(s.dtypes),
            "tolerances": {d: {"rtol": s.tolerance(d)[0], "atol": s.tolerance(d)[1]} for d in s.dtypes},
        } for s in specs]
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    if output_format != "text":
        raise _fail(f"--output-format: {output_format!r} is not one of text, json")
    width = max(len(s.name) for s in specs)
    for s in specs:
        tol = "  ".join(f"{d} rtol={s.tolerance(d)[0]:g} atol={s.tolerance(d)[1]:g}" for d in s.dtypes)
        typer.echo(f"{s.name:<{width}}  {s.summary}")
        typer.echo(f"{'':<{width}}  kernels: {', '.join(s.kernel_names)} (porter.kernels.device.{s.device_module})")
        typer.echo(f"{'':<{width}}  reference: {s.reference.__module__}.{s.reference.__name__}")
        typer.echo(f"{'':<{width}}  cases: {len(s.cases)} x {len(s.dtypes)} dtypes; {tol}")


@app.command("test")
def test_kernels(
    name: Annotated[str | None, typer.Argument(help="Kernel name (default: all).")] = None,
    dtype: Annotated[str | None, typer.Option(help="float32 or bfloat16 (default: both).")] = None,
    case: Annotated[str | None, typer.Option(help="Only cases whose label contains this ('bench': the bench case).")]
    = None,
    seed: Annotated[int, typer.Option(help="Random seed for the inputs.")] = 0,
) -> None:
    """Run kernels in the NKI simulator over their case grid and compare with the PyTorch references."""
    specs = _specs(name)
    _simulator_ready()
    registry = _registry()
    failures = 0
    total = 0
    header = f"{'kernel':<10} {'case':<40} {'dtype':<9} {'max_abs':>10} {'max_rel':>10} {'rtol':>7} {'atol':>7}  result"
    typer.echo(header)
    for spec in specs:
        for c in _cases(spec, case):
            for dt in _dtypes(dtype, spec):
                r = registry.check_case(spec, c, dt, seed=seed)
                total += 1
                status = "ok" if r.passed else "FAIL"
                failures += not r.passed
                line = (f"{r.kernel:<10} {r.case:<40} {r.dtype:<9} {r.max_abs:>10.3g} {r.max_rel:>10.3g} "
                        f"{r.rtol:>7.0e} {r.atol:>7.0e}  {status}")
                typer.secho(line, fg=None if r.passed else typer.colors.RED)
                if r.error:
                    typer.secho(f"    {r.error}", fg=typer.colors.RED)
    typer.echo(f"{total - failures} passed, {failures} failed")
    if failures:
        raise typer.Exit(1)


def _machine() -> str:
    import os

    import torch

    return (f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, python "
            f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads)")


@app.command("bench")
def bench_kernels(
    name: Annotated[str | None, typer.Argument(help="Kernel name (default: all).")] = None,
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16.")] = "float32",
    case: Annotated[str | None, typer.Option(help="Case label substring (default: the kernel's bench case).")]
    = None,
    repeat: Annotated[int, typer.Option(help="Timed runs; the best is reported.")] = 1,
) -> None:
    """Simulated wall time of each kernel next to the PyTorch reference's (CPU) time."""
    import time

    import torch

    from porter.kernels import _runtime

    specs = _specs(name)
    _simulator_ready()
    if dtype not in DTYPE_CHOICES:
        raise _fail(f"--dtype: {dtype!r} is not one of {', '.join(DTYPE_CHOICES)}")
    typer.echo(f"machine: {_machine()}")
    typer.echo(f"{'kernel':<10} {'case':<36} {'dtype':<9} {'simulated s':>12} {'reference s':>12} {'ratio':>9}")
    for spec in specs:
        cases = _cases(spec, case or "bench") if (case or spec.bench_case) else list(spec.cases[-1:])
        for c in cases:
            tensors, params = spec.inputs(c, dtype)
            best_sim = best_ref = float("inf")
            for _ in range(max(1, repeat)):
                t0 = time.perf_counter()
                with torch.no_grad():
                    spec.reference(*tensors, **params)
                t1 = time.perf_counter()
                _runtime.run_simulated(spec.name, spec.launch, tensors, params)
                t2 = time.perf_counter()
                best_ref, best_sim = min(best_ref, t1 - t0), min(best_sim, t2 - t1)
            ratio = best_sim / best_ref if best_ref > 0 else float("inf")
            typer.echo(f"{spec.name:<10} {c.label:<36} {dtype:<9} {best_sim:>12.4f} {best_ref:>12.6f} {ratio:>8.1f}x")


def _stats_dict(stats: Any) -> dict[str, Any]:
    if stats is None:
        return {}
    if isinstance(stats, dict):
        return stats
    for attr in ("as_dict", "to_dict"):
        fn = getattr(stats, attr, None)
        if callable(fn):
            return fn()
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")}


def _fmt_bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return str(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command("profile")
def profile_kernel(
    name: Annotated[str, typer.Argument(help="Kernel name.")],
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16.")] = "float32",
    case: Annotated[str | None, typer.Option(help="Case label substring or 'bench' (default: the last grid case).")]
    = None,
    output_format: Annotated[str, typer.Option("--output-format", help="text or json.")] = "text",
) -> None:
    """Per-engine instruction counts, bytes moved and peak SBUF/PSUM of one simulated run."""
    from porter.kernels import _runtime

    spec = _specs(name)[0]
    _simulator_ready()
    if dtype not in DTYPE_CHOICES:
        raise _fail(f"--dtype: {dtype!r} is not one of {', '.join(DTYPE_CHOICES)}")
    cases = _cases(spec, case) if case else list(spec.cases[-1:])
    if not cases:
        raise _fail(f"no case of {spec.name} matches {case!r}")
    c = cases[0]
    tensors, params = spec.inputs(c, dtype)
    _runtime.run_simulated(spec.name, spec.launch, tensors, params)
    stats = _stats_dict(_runtime.last_run_stats(spec.name))
    if output_format == "json":
        sys.stdout.write(json.dumps({"kernel": spec.name, "case": c.label, "dtype": dtype, "stats": stats},
                                    indent=2, default=str) + "\n")
        return
    typer.echo(f"{spec.name} {c.label} {dtype}")
    if not stats:
        typer.echo("  the simulator reported no statistics for this run")
        return
    instructions = stats.get("instructions") or {}
    if instructions:
        typer.echo(f"  instructions per engine (total {sum(instructions.values())}):")
        for engine, n in sorted(instructions.items(), key=lambda kv: -kv[1]):
            typer.echo(f"    {engine:<10} {n:>8}")
    ops = stats.get("ops") or {}
    if ops:
        typer.echo("  instructions per API:")
        for op, n in sorted(ops.items(), key=lambda kv: -kv[1]):
            typer.echo(f"    {op:<24} {n:>8}")
    moved = {k: v for k, v in stats.items() if k.endswith("_bytes") and not k.startswith("peak")}
    if moved:
        typer.echo(f"  bytes moved (total {_fmt_bytes(sum(v for v in moved.values() if isinstance(v, int)))}):")
        for k, v in moved.items():
            typer.echo(f"    {k.removesuffix('_bytes'):<24} {_fmt_bytes(v):>12}")
    peaks = {k: v for k, v in stats.items() if k.startswith("peak")}
    if peaks:
        typer.echo("  peak on-chip memory:")
        for k, v in peaks.items():
            shown = v if k.endswith("banks") else _fmt_bytes(v)
            typer.echo(f"    {k.removeprefix('peak_'):<24} {shown:>12}")
    rest = {k: v for k, v in stats.items() if k not in instructions and k not in ("instructions", "ops")
            and k not in moved and k not in peaks}
    for k, v in rest.items():
        typer.echo(f"  {k}: {v}")


@app.command("verify")
def verify_cmd(
    paths: Annotated[list[str], typer.Argument(help="Python files (or folders) holding @triton.jit kernels.")],
    write: Annotated[bool, typer.Option("--write", help="Write <file>_nki.py beside each file.")] = False,
    kernel: Annotated[list[str] | None, typer.Option("--kernel", "-k", help="Only these kernels.")] = None,
    output_format: Annotated[str, typer.Option("--output-format", help="text or json.")] = "text",
) -> None:
    """Translate Triton kernels to NKI and verify each: Triton's interpreter vs porter's NKI simulator.

    Exit 0 when every kernel found translates and verifies, 1 otherwise, 2 on usage errors.
    """
    from pathlib import Path

    if output_format not in ("text", "json"):
        raise _fail(f"--output-format: {output_format!r} is not one of text, json")
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise _fail(f"{raw}: no such file or directory")
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*.py") if "triton" in f.read_text(encoding="utf-8",
                                                                                      errors="replace")))
        else:
            files.append(p)
    import os

    os.environ["TRITON_INTERPRET"] = "1"  # before triton's first import: parts of it read the switch then
    try:
        import torch  # noqa: F401
        import triton  # noqa: F401
    except ImportError as exc:
        raise _fail(f"verification runs the original kernels in Triton's interpreter and needs torch and triton "
                    f"(pip install 'neuron-porter[triton]'): {exc}") from None
    from porter.translate.triton import report
    from porter.translate.triton.verify import VERIFIED, verify_file

    results = []
    for f in files:
        try:
            _, reps = verify_file(f, write=write, kernels=list(kernel) if kernel else None)
        except SyntaxError as exc:
            typer.secho(f"porter: error: {f}: not valid Python: {exc}", err=True, fg=typer.colors.RED)
            results.append((f, []))
            continue
        results.append((f, reps))
        if output_format == "text":
            for line in report.text_lines(f, reps):
                typer.echo(line)
    counts = report.summary(results)
    if output_format == "json":
        typer.echo(report.as_json(results))
    else:
        total = sum(counts.values())
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        typer.echo(f"{total} kernels: {parts}" if total else "no @triton.jit kernels found")
    bad = sum(n for s, n in counts.items() if s != VERIFIED)
    raise typer.Exit(1 if bad or not counts else 0)
