"""`porter port` (and `porter lint --fix`): modes, safety checks, output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from porter.commands.lint_support import colour_diff
from porter.config import ConfigError, Overrides
from porter.report.base import write_stdout
from porter.rewrite.fileio import unified_diff as file_diff
from porter.rewrite.report import build_report, render_markdown, skipped_summary, write_report
from porter.rewrite.requirements import snippet
from porter.rewrite.tree_port import PortOptions, link_loops, port_tree
from porter.source.cache import NO_CACHE_ENV, default_cache_dir
from porter.source.catalogue import CatalogueError
from porter.source.discovery import NOTEBOOK_SUFFIX
from porter.source.runner import MAX_FILE_BYTES
from porter.source.selection import SelectionError


def git_dirty(path: Path) -> bool | None:
    """True when `path` is in a git work tree with uncommitted changes; None outside git."""
    folder = path if path.is_dir() else path.parent
    try:
        inside = subprocess.run(["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, text=True)
        if inside.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return bool(status.stdout.strip())


def unified_diff(result) -> str:
    chunks = []
    for port in result.changed:
        if port.error:
            continue
        chunks.append(file_diff(port.original, port.ported, f"a/{port.path}", f"b/{port.path}"))
    for path, text in getattr(result, "added", {}).items():  # new files: each package's shared helpers
        chunks.append(file_diff("", text, "/dev/null", f"b/{path}"))
    return "".join(chunks)


def run_port_stdin(filename: str, *, target, diff, unsafe_fixes, select, ignore, fail, check: bool = False) -> int:
    """`porter port -`: the source on stdin, ported as the file `filename`: the ported text on
    stdout, with `diff` a unified diff, with `check` nothing (exit 1 when there is a change, as
    with files). A notebook (`filename` ending in .ipynb) is not ported: it comes back unchanged."""
    from porter.config import ConfigResolver
    from porter.rewrite.narrow import port_source_narrow
    from porter.source.catalogue import load_catalogue
    from porter.source.engine import RuleIndex
    from porter.source.runner import decode_python
    from porter.source.selection import ignored_rules, select_rules

    overrides = Overrides(select=select, ignore=ignore, target=target)
    try:
        settings = ConfigResolver(overrides).for_path(Path(filename))
        catalogue = load_catalogue(settings.rule_paths)
    except (ConfigError, CatalogueError, SelectionError) as exc:
        raise fail(str(exc)) from None
    rules = [r for r in select_rules(catalogue, settings) if r.matchers]
    index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings), target=settings.target)
    data = sys.stdin.buffer.read()
    if filename.endswith((NOTEBOOK_SUFFIX, ".pyi")):  # as with files: port rewrites neither
        sys.stderr.write(f"{filename}: a {'notebook' if filename.endswith(NOTEBOOK_SUFFIX) else 'type stub'}: "
                         "not ported\n")
        if not (diff or check):
            sys.stdout.buffer.write(data)
        return 0
    if len(data) > MAX_FILE_BYTES:  # as with files: this much is generated data, not code to port
        sys.stderr.write(f"{filename}: file is {len(data) / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 2**20:g} MiB "
                         "limit; not ported\n")
        if not (diff or check):
            sys.stdout.buffer.write(data)  # the input back unchanged: a pipe never loses the user's code
        return 1
    text = decode_python(data, filename)
    if not isinstance(text, str):
        sys.stderr.write(f"{filename}: {text.message}\n")
        return 1
    port = port_source_narrow(text, filename, index, catalogue, settings.target, unsafe_fixes)
    if port.error:
        sys.stderr.write(f"{filename}: {port.error}\n")
        if not (diff or check):
            write_stdout(text)  # the input back unchanged: a pipe never loses the user's code
        return 1
    if check:
        return 1 if port.changed else 0
    if diff:
        write_stdout(colour_diff(file_diff(port.original, port.ported, f"a/{filename}", f"b/{filename}")))
        return 1 if port.changed else 0
    write_stdout(port.ported)
    return 0


def run_port(path: Path, *, target, out, in_place, diff, check, unsafe_fixes, select, ignore, report,
             report_only, force, jobs, fail, progress=None, extend_select=None, no_cache=False,
             cache_dir=None, verify_triton=False) -> int:
    if not path.exists():
        why = "symlink loop" if path.is_symlink() and link_loops(path) else "path does not exist"
        raise fail(f"{path}: {why}")
    modes = [m for m, on in (("--out", out is not None), ("--in-place", in_place), ("--diff", diff),
                             ("--check", check), ("--report-only", report_only)) if on]
    if not modes:
        raise fail("choose where the result goes: --out DIR, --in-place, --diff, --check or --report-only")
    writing = [m for m in modes if m in ("--out", "--in-place")]
    if len(writing) > 1 or (writing and len(modes) > 1):
        raise fail(f"{' and '.join(modes)} cannot be combined")
    if out is not None:
        root = path.resolve() if path.is_dir() else path.parent.resolve()
        if out.resolve().is_relative_to(root):
            raise fail(f"--out {out} is inside the tree being ported; choose a folder outside it")
        if out.exists() and not out.is_dir():
            raise fail(f"--out {out} is a file, not a folder")
        if out.exists() and any(out.iterdir()) and not force:
            raise fail(f"--out {out} exists and is not empty (use --force to write into it)")
    if verify_triton:
        from porter.rewrite.triton_translation import check_verify_available

        if not writing:
            raise fail("--verify translates Triton kernels into the written tree: use it with --out or --in-place")
        if (missing := check_verify_available()) is not None:
            raise fail(missing)
    if in_place and not force and git_dirty(path):
        raise fail(f"{path} has uncommitted changes; commit or stash them first, or pass --force")
    overrides = Overrides(select=select, ignore=ignore, target=target,
                          extend_select=tuple(extend_select) if extend_select else None)
    try:
        from porter.config import ConfigResolver

        effective = ConfigResolver(overrides).for_path(path).target
        if no_cache or os.environ.get(NO_CACHE_ENV):
            cache = None
        else:
            cache = cache_dir or default_cache_dir(Path.cwd())
        result = port_tree(path, PortOptions(target=effective, unsafe_fixes=unsafe_fixes, out=out,
                                             in_place=in_place, jobs=jobs, cache_dir=cache), overrides, progress)
    except (ConfigError, CatalogueError, SelectionError) as exc:
        raise fail(str(exc)) from None
    summary = build_report(result)
    if verify_triton:
        from porter.rewrite.triton_translation import translate_ported

        summary["triton_kernels"] = [o.as_dict() for o in translate_ported(path, out, result)]
    if report is not None:
        write_report(summary, report)
    if diff:
        write_stdout(colour_diff(unified_diff(result)))
    elif report_only and report is None:
        write_stdout(render_markdown(summary))
    else:
        write_stdout(_summary_line(summary, out, in_place, check))
    if verify_triton:
        from porter.rewrite.triton_translation import kernel_lines

        write_stdout(kernel_lines(summary["triton_kernels"]))
    for file, message in result.problems:
        sys.stderr.write(f"{file}: {message}\n")
    # Exit 1 when anything would change (--check, and --diff as with ruff) or any file could not be
    # read, ported, copied or written (each is on stderr and in the report's problems); usage errors exit 2.
    if (check or diff) and result.changed:
        return 1
    return 1 if result.problems else 0


def _summary_line(summary: dict, out, in_place, check) -> str:
    where = f" → {out}" if out is not None else (" (in place)" if in_place else "")
    verb = "would change" if check else "changed"
    return (
        f"porter port ({summary['target']}){where}: {summary['files_scanned']} Python files scanned, "
        f"{summary['files_changed']} {verb}; {summary['constructs']} constructs: {summary['fixed']} fixed, "
        f"{summary['marked']} marked, {summary['unsafe_skipped']} unsafe not applied "
        f"({summary['migrated_percent']}% migrated, effort left: {summary['effort']})"
        + (f"; {n} notebook{'s' if n > 1 else ''} not ported (copied unchanged)"
           if (n := len(summary["notebooks_not_ported"])) else "")
        + (f"; {n} type stub{'s' if n > 1 else ''} not ported (copied unchanged)"
           if (n := len(summary.get("stubs_not_ported", ()))) else "")
        + (f"; {skipped}" if (skipped := skipped_summary(summary)) else "") + "\n"
        + _requirements_lines(summary)
    )


def _requirements_lines(summary: dict) -> str:
    """The requirements the ported tree gained, as lines ready for requirements.txt ('' when none)."""
    if not summary.get("requirements"):
        return ""
    lines = snippet(summary["requirements"]).splitlines()
    return "requirements the ported code added (for requirements.txt):\n" + "".join(f"  {line}\n" for line in lines)
