"""`porter nki upgrade`: carry legacy `neuronxcc.nki` and NKI 0.6 kernels to the current NKI (0.8).

Same contract as `porter port`: choose one of --diff / --check / --in-place / --out; --in-place
refuses a dirty git tree without --force; exit 0 clean, 1 when --check finds changes or a file or a
verification failed, 2 on usage errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="nki",
    help="NKI kernels: upgrade legacy kernels to the current NKI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="nki", help="NKI kernels: upgrade legacy kernels to the current NKI.")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"porter: error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


@app.command("upgrade")
def upgrade(
    path: Annotated[Path, typer.Argument(help="A kernel file or a tree.")],
    to: Annotated[str, typer.Option("--to", help="The NKI version to upgrade to.")] = "0.8",
    diff: Annotated[bool, typer.Option(
        help="Print a unified diff; write nothing (exit 1 when it is not empty).")] = False,
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 when anything would change.")] = False,
    in_place: Annotated[bool, typer.Option("--in-place", help="Rewrite the files where they are.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the upgraded copy of the tree here.")] = None,
    force: Annotated[bool, typer.Option(help="Allow --in-place on a dirty git tree / a non-empty --out.")] = False,
    verify: Annotated[bool, typer.Option(
        help="Run each upgraded file on the NKI simulator: against --reference, else its own tests / __main__."
    )] = False,
    reference: Annotated[Path | None, typer.Option(
        help="NumPy reference for --verify: inputs_<kernel>() and reference_<kernel>(*inputs) functions; "
             "an SPMD kernel's launch grid from grid_<kernel>(*inputs) (an int or a tuple).")] = None,
    grid: Annotated[str | None, typer.Option(
        help="SPMD launch grid for --verify --reference, e.g. 2,3: every kernel runs as kernel[2, 3](...) "
             "(instead of the reference's grid_<kernel>).")] = None,
    timeout: Annotated[int, typer.Option(help="Seconds per file for --verify.")] = 600,
) -> None:
    """Upgrade NKI kernels: legacy neuronxcc.nki (and NKI 0.6) to NKI 0.8; the rest marked `# porter: NRN7xx`."""
    from porter.rewrite.commands import git_dirty
    from porter.translate.nki_upgrade import TARGETS
    from porter.translate.nki_upgrade import tree as t

    if to not in TARGETS:
        raise _fail(f"--to {to}: porter upgrades to NKI {', '.join(TARGETS)}")
    if not path.exists():
        raise _fail(f"{path}: path does not exist")
    modes = [m for m, on in (("--diff", diff), ("--check", check), ("--in-place", in_place),
                             ("--out", out is not None)) if on]
    if len(modes) != 1:
        raise _fail("choose one of --diff, --check, --in-place or --out DIR" if not modes
                    else f"{' and '.join(modes)} cannot be combined")
    if reference is not None and not verify:
        raise _fail("--reference is used by --verify")
    if reference is not None and not reference.is_file():
        raise _fail(f"--reference {reference}: not a file")
    if grid is not None:
        from porter.translate.nki_upgrade.verify import parse_grid

        if reference is None:
            raise _fail("--grid is used by --verify --reference (a file's own checks launch their kernels themselves)")
        try:
            grid = ",".join(map(str, parse_grid(grid)))
        except ValueError as exc:
            raise _fail(f"--grid {exc}") from None
    if out is not None:
        root = path.resolve() if path.is_dir() else path.parent.resolve()
        if out.resolve().is_relative_to(root):
            raise _fail(f"--out {out} is inside the tree being upgraded; choose a folder outside it")
        if out.exists() and any(out.iterdir()) and not force:
            raise _fail(f"--out {out} exists and is not empty (use --force to write into it)")
    if in_place and not force and git_dirty(path):
        raise _fail(f"{path} has uncommitted changes; commit or stash them first, or pass --force")

    result = t.upgrade_tree(path)
    base = path if path.is_dir() else path.parent
    if diff:
        for up in result.changed:
            sys.stdout.write(up.diff(str(up.path.relative_to(base))))
    elif in_place:
        t.write_in_place(result)
    elif out is not None:
        t.write_copy(result, out)
    changes = sum(len(up.report.changes) for up in result.files)
    markers = sum(len(up.report.markers) for up in result.files)
    verb = "would change" if (check or diff) else "changed"
    where = f" -> {out}" if out is not None else (" (in place)" if in_place else "")
    summary = (f"porter nki upgrade (NKI {to}){where}: {len(result.files)} Python files scanned, "
               f"{len(result.changed)} {verb}; {changes} constructs upgraded, "
               f"{markers} left marked (# porter: NRN7xx)\n")
    (sys.stderr if diff else sys.stdout).write(summary)
    for up in result.files:
        for m in up.report.markers:
            sys.stderr.write(f"{up.path}:{m.line}: {m.rule} {m.text}\n")
    for file, message in result.problems:
        sys.stderr.write(f"{file}: {message}\n")
    failed = bool(result.problems)
    if verify:
        failed |= _verify(result, path, out, in_place, reference, timeout, grid)
    if (check or diff) and result.changed:
        failed = True
    raise typer.Exit(1 if failed else 0)


def _verify(result, path: Path, out: Path | None, in_place: bool, reference: Path | None, timeout: int,
            grid: str | None = None) -> bool:
    """Run the upgraded files (from where they were written, or a temp copy) on the simulator."""
    from porter.translate.nki_upgrade import tree as t

    base = path if path.is_dir() else path.parent
    with tempfile.TemporaryDirectory(prefix="porter-nki-verify-") as tmp:
        root = out if out is not None else (base if in_place else Path(tmp))
        if out is None and not in_place:
            t.write_copy(result, root)
        failed = False
        targets = result.changed if reference is None else result.changed or result.files
        if not targets:
            sys.stdout.write("verify: nothing was upgraded, nothing to run\n")
        for up in targets:
            file = root / up.path.relative_to(base)
            cmd = [sys.executable, "-m", "porter.translate.nki_upgrade.verify", str(file)]
            if reference is not None:
                cmd += ["--reference", str(reference.resolve())]
            if grid is not None:
                cmd += ["--grid", grid]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=file.parent)
            except subprocess.TimeoutExpired:
                sys.stdout.write(f"verify {up.path}: timeout after {timeout} s\n")
                failed = True
                continue
            records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
            if not records:
                detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                sys.stdout.write(f"verify {up.path}: error ({detail})\n")
                failed = True
            for r in records:
                extra = f" max|err|={r['max_abs_error']:.3g}" if "max_abs_error" in r else ""
                detail = f" ({r['detail']})" if r.get("detail") else ""
                sys.stdout.write(f"verify {up.path} {r['check']}: {r['status']}{extra}{detail}\n")
                failed |= r["status"] in ("mismatch", "error")
        return failed
