"""The `porter` command line. Exit codes follow ruff: 0 clean, 1 findings, 2 usage or internal error."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from porter import __version__
from porter.config import TARGETS, ConfigError, Overrides

app = typer.Typer(
    name="porter",
    help="Bring CUDA-flavoured PyTorch code to AWS Trainium and Inferentia.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

OUTPUT_FORMATS = ("text", "json", "sarif", "github", "junit")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"porter {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """porter: lint, port, and verify CUDA PyTorch code for AWS Neuron."""
    # Errors and warnings (typer.secho) follow NO_COLOR / FORCE_COLOR like the reports do; every
    # command's context inherits this.
    if os.environ.get("NO_COLOR"):
        ctx.color = False
    elif os.environ.get("FORCE_COLOR"):
        ctx.color = True


def fail(message: str) -> typer.Exit:
    typer.secho(f"porter: error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def split_codes(values: list[str] | None) -> tuple[str, ...] | None:
    """`--select NRN1,NRN2 --select NRN3` as ('NRN1', 'NRN2', 'NRN3')."""
    if values is None:
        return None
    return tuple(code.strip().upper() for value in values for code in value.split(",") if code.strip())


def check_choice(value: str | None, choices: tuple[str, ...], option: str) -> None:
    if value is not None and value not in choices:
        raise fail(f"{option}: {value!r} is not one of {', '.join(choices)}")


@app.command()
def lint(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (default: .)")] = None,
    select: Annotated[list[str] | None, typer.Option(help="Rule ids or prefixes to enable (comma-separated).")] = None,
    extend_select: Annotated[list[str] | None, typer.Option(help="Rule ids or prefixes to add.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(help="Rule ids or prefixes to disable.")] = None,
    target: Annotated[str | None, typer.Option(help="neuron (default), portable or xla.")] = None,
    output_format: Annotated[str, typer.Option(envvar="PORTER_OUTPUT_FORMAT",
                                               help="text, json, sarif, github or junit.")] = "text",
    output_file: Annotated[Path | None, typer.Option("--output-file", "-o", help="Write the report here.")] = None,
    statistics: Annotated[bool, typer.Option(help="Count findings per rule instead of listing them.")] = False,
    exit_zero: Annotated[bool, typer.Option(help="Exit 0 even when there are findings.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(envvar="PORTER_CACHE_DIR", help="Where the cache lives.")] = None,
    force_exclude: Annotated[bool, typer.Option(help="Apply excludes to paths given explicitly too.")] = False,
    exclude: Annotated[list[str] | None, typer.Option(help="Replace the exclude globs.")] = None,
    extend_exclude: Annotated[list[str] | None, typer.Option(help="Add exclude globs.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")] = None,
    fix: Annotated[bool, typer.Option(help="Apply the safe fixes in place (as `porter port --in-place`).")] = False,
    unsafe_fixes: Annotated[bool, typer.Option(help="With --fix: apply unsafe fixes too.")] = False,
    strict_markers: Annotated[bool, typer.Option(
        help="Sites marked by porter (`# porter: NRNxxx` above them) fail the run too.")] = False,
    add_noqa: Annotated[bool, typer.Option(help="Add `# noqa: NRNxxx` to every line with findings.")] = False,
    baseline: Annotated[Path | None, typer.Option(
        help="JSON of known findings (`porter lint --output-format json -o FILE`): not failures.")] = None,
    diff_base: Annotated[str | None, typer.Option(
        help="Only findings on lines changed since this git revision.")] = None,
    stdin_filename: Annotated[str | None, typer.Option(help="The file name for source read from `-` (stdin).")] = None,
) -> None:
    """Find CUDA-only code and say what it means on Trainium / Inferentia."""
    from porter.commands.lint_support import attach_locations, colourize, narrow_findings, use_colour
    from porter.report import LINT_FORMATS, STATISTICS_FORMATS, LintReport
    from porter.source.adoption import AdoptionError
    from porter.source.catalogue import CatalogueError
    from porter.source.findings import INTERNAL_ERROR
    from porter.source.runner import lint_paths, lint_stdin
    from porter.source.selection import SelectionError

    check_choice(output_format, OUTPUT_FORMATS, "--output-format")
    check_choice(target, TARGETS, "--target")
    if statistics and output_format not in STATISTICS_FORMATS:
        raise fail(f"--statistics cannot be written as --output-format {output_format}; "
                   f"use {' or '.join(STATISTICS_FORMATS)}")
    overrides = Overrides(
        select=split_codes(select),
        extend_select=split_codes(extend_select),
        ignore=split_codes(ignore),
        target=target,
        exclude=tuple(exclude) if exclude else None,
        extend_exclude=tuple(extend_exclude) if extend_exclude else None,
    )
    from_stdin = [str(p) for p in paths or ()] == ["-"]
    stdin_name, stdin_data = stdin_filename or "-", sys.stdin.buffer.read() if from_stdin else b""
    if from_stdin and (fix or add_noqa):
        raise fail("--fix and --add-noqa rewrite files; they cannot take source from stdin")
    if fix:
        _apply_fixes(paths or [Path(".")], overrides, unsafe_fixes, jobs)
    try:
        if from_stdin:
            result = lint_stdin(stdin_data, stdin_name, overrides, force_exclude=force_exclude)
        else:
            result = lint_paths(
                paths or [Path(".")], overrides, use_cache=not no_cache, cache_dir=cache_dir, jobs=jobs,
                force_exclude=force_exclude, progress=_progress_bar(),
            )
        findings, notes = narrow_findings(result.findings, baseline, diff_base, paths or [Path(".")])
    except (ConfigError, CatalogueError, SelectionError, AdoptionError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # exit 2, like ruff, not a traceback and exit 1
        raise fail(f"internal error: {type(exc).__name__}: {exc}") from exc
    for directory in result.empty_dirs:
        typer.secho(f"warning: {directory}: no Python files found", err=True, fg=typer.colors.YELLOW)
    if result.files_seen == 0 and not result.findings and not result.empty_dirs:
        typer.secho("warning: no Python files found under the given path(s)", err=True, fg=typer.colors.YELLOW)
    if add_noqa:
        from porter.rewrite.noqa import add_noqa as write_noqa

        added, skipped = write_noqa([f for f in findings if not f.marked])
        for path, why in skipped:
            typer.echo(f"{path}: no noqa added: {why}", err=True)
        typer.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.")
        return
    report = LintReport(findings, result.catalogue, result.settings.target, strict_markers=strict_markers,
                        notes=notes)
    if not statistics:  # fix edits (JSON, SARIF) and notebook positions (SARIF, GitHub)
        attach_locations(report, output_format, result.rule_ids, {stdin_name: stdin_data} if from_stdin else {})
    text = STATISTICS_FORMATS[output_format](report) if statistics else LINT_FORMATS[output_format](report)
    if output_format == "text" and not statistics and use_colour(output_file):
        text = colourize(text)
    _emit(text, output_file)
    crashed = sorted({f.path for f in findings if f.rule_id == INTERNAL_ERROR})
    if crashed:  # a porter bug: exit 2 like ruff, even with --exit-zero, after the full report
        typer.secho(f"porter: error: internal error while checking {len(crashed)} file(s) ({INTERNAL_ERROR}); "
                    "the other rules ran and their findings are reported", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    if report.failures and not exit_zero:
        raise typer.Exit(1)


def _apply_fixes(paths: list[Path], overrides: Overrides, unsafe_fixes: bool, jobs: int | None) -> None:
    from porter.config import ConfigResolver
    from porter.rewrite.tree_port import PortOptions, port_tree

    resolver = ConfigResolver(overrides)
    for path in paths:
        if not path.exists():
            continue  # lint reports it
        target = resolver.for_path(path).target
        result = port_tree(path, PortOptions(target=target, unsafe_fixes=unsafe_fixes, in_place=True, jobs=jobs),
                           overrides)
        for problem_path, message in result.problems:  # a file --fix could not rewrite, and why
            typer.echo(f"{problem_path}: not fixed: {message}", err=True)
        fixed = sum(1 for f in result.files for c in f.changes if c.action == "fixed")
        if fixed:
            typer.echo(f"Fixed {fixed} finding(s) in {len(result.changed)} file(s) under {path}.", err=True)


def _emit(text: str, output_file: Path | None) -> None:
    # A non-UTF-8 file name (held as surrogates, PEP 383) is written back as its own bytes.
    if output_file is None:
        from porter.report.base import write_stdout

        write_stdout(text)
        return
    try:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        output_file.write_bytes(text.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise fail(f"{output_file}: cannot write report: {exc.strerror}") from None


def _progress_bar(what: str = "linting"):
    """A rich progress bar on stderr once a run has taken over a second, in a terminal only: nothing
    in CI, under pre-commit or when stderr is piped (NO_COLOR keeps the bar, without colour)."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    import time

    state: dict = {"start": time.monotonic()}

    def update(done: int, total: int) -> None:
        if "progress" not in state:
            if done >= total or time.monotonic() - state["start"] < 1.0:
                return  # a short run stays silent
            from rich.console import Console
            from rich.progress import Progress

            progress = Progress(transient=True, console=Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR"))))
            progress.start()
            state["progress"] = progress
            state["task"] = progress.add_task(what, total=total)
        state["progress"].update(state["task"], completed=done)
        if done >= total:
            state["progress"].stop()

    return update


@app.command()
def port(
    path: Annotated[Path, typer.Argument(help="The repository (or file) to port.")],
    target: Annotated[str | None, typer.Option(help="neuron (default), portable or xla.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the ported copy of the tree here.")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Rewrite the files where they are.")] = False,
    diff: Annotated[bool, typer.Option(help="Print a unified diff; write nothing.")] = False,
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 when anything would change.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option(help="Also apply fixes the catalogue marks unsafe.")] = False,
    select: Annotated[list[str] | None, typer.Option(help="Rule ids or prefixes to port.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(help="Rule ids or prefixes to leave alone.")] = None,
    extend_select: Annotated[list[str] | None, typer.Option(help="Rule ids or prefixes to port as well.")] = None,
    swap_sdpa: Annotated[bool, typer.Option(
        help="Also swap F.scaled_dot_product_attention for porter's NKI attention (NRN416).")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the port report (.json or .md).")] = None,
    report_only: Annotated[bool, typer.Option(help="Analysis mode: the report, no code.")] = False,
    force: Annotated[bool, typer.Option(help="Allow --in-place on a dirty git tree / a non-empty --out.")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(envvar="PORTER_CACHE_DIR", help="Where the cache lives.")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Translate Triton kernels to NKI, verify each in Triton's interpreter vs the NKI "
        "simulator, and apply the verified ones (needs the triton extra).")] = False,
    stdin_filename: Annotated[str | None, typer.Option(help="The file name for source read from `-` (stdin).")] = None,
) -> None:
    """Port a repository to Neuron: safe fixes applied, the rest marked in the code, and a report."""
    from porter.rewrite.commands import run_port, run_port_stdin

    check_choice(target, TARGETS, "--target")
    if str(path) == "-":
        if out is not None or in_place or report_only or report is not None:
            raise fail("source from stdin (`-`) is printed ported, with --diff as a diff, with --check not at "
                       "all; --out, --in-place and reports need files")
        raise typer.Exit(run_port_stdin(stdin_filename or "-", target=target, diff=diff, unsafe_fixes=unsafe_fixes,
                                        select=split_codes(select), ignore=split_codes(ignore), fail=fail,
                                        check=check))
    try:
        code = run_port(
            path, target=target, out=out, in_place=in_place, diff=diff, check=check, unsafe_fixes=unsafe_fixes,
            select=split_codes(select), ignore=split_codes(ignore),
            extend_select=(split_codes(extend_select) or ()) + (("NRN416",) if swap_sdpa else ()) or None,
            report=report, report_only=report_only, force=force, jobs=jobs, fail=fail,
            progress=_progress_bar("porting"), no_cache=no_cache, cache_dir=cache_dir, verify_triton=verify,
        )
    except (typer.Exit, KeyboardInterrupt, ModuleNotFoundError):
        raise
    except OSError as exc:  # a folder that cannot be read or written: exit 2 with its name, no traceback
        raise fail(f"{exc.filename or path}: {exc.strerror or exc}") from None
    except Exception as exc:  # exit 2, like ruff, not a traceback and exit 1
        raise fail(f"internal error: {type(exc).__name__}: {exc}") from exc
    raise typer.Exit(code)


@app.command("rules")
def list_rules(
    output_format: Annotated[str, typer.Option(help="text, json, or markdown (the mapping table).")] = "text",
    target: Annotated[str | None, typer.Option(help="Show fix availability for this target only.")] = None,
) -> None:
    """List every rule in the catalogue (with the project's own rule files)."""

    check_choice(output_format, ("text", "json", "markdown"), "--output-format")
    check_choice(target, TARGETS, "--target")
    catalogue = _project_catalogue()
    if output_format == "markdown":
        from porter.source.mapping import render_mapping

        sys.stdout.write(render_mapping(catalogue))
        return
    if output_format == "json":
        data = [_rule_record(rule) for rule in catalogue]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    targets = (target,) if target else TARGETS
    table = Table(title=f"porter rules ({len(catalogue)})", show_lines=False)
    for column in ("id", "name", "severity", *[f"fix:{t}" for t in targets], "title"):
        table.add_column(column, overflow="fold")
    for rule in catalogue:
        fixes = [rule.fix_for(t).applicability for t in targets]
        table.add_row(rule.id, rule.name, rule.severity, *fixes, rule.title)
    Console(width=max(120, Console().width)).print(table)


def _project_catalogue():
    """The shipped rules plus the `rule-paths` of the project in the current directory."""
    from porter.config import ConfigError, ConfigResolver, Overrides
    from porter.source.catalogue import CatalogueError, load_catalogue

    try:
        settings = ConfigResolver(Overrides()).for_path(Path.cwd())
        return load_catalogue(settings.rule_paths)
    except (ConfigError, CatalogueError) as exc:
        raise fail(str(exc)) from None


def _rule_record(rule) -> dict:
    return {
        "id": rule.id,
        "name": rule.name,
        "title": rule.title,
        "category": rule.category,
        "severity": rule.severity,
        "targets": list(rule.targets),
        "default": rule.default,
        "detects": rule.detects,
        "why": rule.why,
        "docs": rule.docs,
        "fix": {t: {"applicability": rule.fix_for(t).applicability, "result": rule.fix_for(t).result}
                for t in TARGETS},
        "example": rule.invalid[0].code if rule.invalid else None,
    }


@app.command("rule")
def explain_rule(
    rule_id: Annotated[str, typer.Argument(help="A rule id such as NRN101.")],
    output_format: Annotated[str, typer.Option(help="text (Markdown) or json.")] = "text",
) -> None:
    """Explain one rule: what it detects, why it matters on Neuron, and the fix per target."""
    from porter.source.explain import explain

    check_choice(output_format, ("text", "json"), "--output-format")
    rule = _project_catalogue().get(rule_id)
    if rule is None:
        raise fail(f"unknown rule {rule_id!r} (see `porter rules`)")
    if output_format == "json":
        sys.stdout.write(json.dumps(_rule_record(rule), indent=2) + "\n")
    else:
        sys.stdout.write(explain(rule))


def _register_subcommands() -> None:
    """Commands that live in their own modules; each imports its heavy dependencies lazily."""
    from importlib.util import find_spec

    from porter.commands.dynamic import register

    register(app)
    from porter.commands.doctor import doctor

    app.command("doctor")(doctor)
    from porter.commands.run import register as register_run

    register_run(app)

    if find_spec("porter.commands.kernels") is not None:
        from porter.commands.kernels import app as kernels_app

        app.add_typer(kernels_app, name="kernels", help="NKI kernel library: list, test, bench, profile.")

    from porter.commands.nki import register as register_nki

    register_nki(app)


_register_subcommands()


# The runtime extra's modules: a command that needs one on a core install (trace, compile, run,
# parity) says so instead of ending in a traceback.
RUNTIME_MODULES = frozenset({"torch", "numpy", "ml_dtypes", "onnx", "onnxruntime", "onnxscript", "safetensors"})


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in RUNTIME_MODULES:
            raise
        typer.secho(f"porter: error: this command needs the runtime extra (pip install 'neuron-porter[runtime]'): "
                    f"no module named {exc.name!r}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None
