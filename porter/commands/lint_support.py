"""What `porter lint` does around the run itself: stdin, baseline and --diff-base filtering,
--add-noqa, fix edits for JSON/SARIF, and colour on a terminal."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from porter.source.findings import Finding


def narrow_findings(findings: list[Finding], baseline: Path | None,
                    diff_base: str | None, paths: Sequence[Path] = ()) -> tuple[list[Finding], list[str]]:
    """The findings left after the baseline and --diff-base, and a note line for each filter."""
    from porter.source.adoption import apply_baseline, apply_diff_base, changed_lines, load_baseline

    notes: list[str] = []
    if baseline is not None:
        findings, known = apply_baseline(findings, load_baseline(baseline))
        if known:
            notes.append(f"{known} finding{'s' if known != 1 else ''} known in the baseline {baseline}, not shown.")
    if diff_base is not None:
        # git runs in the repository of the paths linted, not of the working directory
        first = next((p for p in paths if str(p) != "-"), Path("."))
        where = first if first.is_dir() else first.parent
        findings, hidden = apply_diff_base(findings, changed_lines(diff_base, where if where.is_dir() else Path.cwd()))
        if hidden:
            notes.append(f"{hidden} finding{'s' if hidden != 1 else ''} on lines unchanged since {diff_base}, "
                         "not shown.")
    return findings, notes


def attach_locations(report, output_format: str, rule_ids: set[str], sources: dict[str, bytes]) -> None:
    """The fix edits JSON and SARIF carry, and where each notebook finding sits in the .ipynb file
    (SARIF regions, GitHub annotations). `sources` holds the bytes of files that are not on disk
    (stdin, under its --stdin-filename)."""
    if output_format in ("json", "sarif"):
        from porter.rewrite.fix_edits import fix_edits

        report.edits = fix_edits(report.findings, report.catalogue, report.target, rule_ids,
                                 sources=sources)
    if output_format in ("sarif", "github"):
        from porter.source.notebook_positions import locate

        for path in {f.path for f in report.findings if f.cell is not None}:
            try:
                report.notebook_locators[path] = locate(sources[path] if path in sources else Path(path).read_bytes())
            except OSError:
                pass


_LINE = re.compile(r"^(?P<loc>\S.*?:\d+:\d+:) (?P<code>NRN\d{3})(?P<tag> \[\*\]| \[marked\])? ")


def use_colour(output_file: Path | None) -> bool:
    """Colour only for a terminal: never when piped, written to a file, or with NO_COLOR set."""
    if output_file is not None or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def colourize(text: str) -> str:
    """ruff's look: bold location, red rule id, cyan `[*]`, yellow `[marked]`."""
    bold, red, cyan, yellow, reset = "\x1b[1m", "\x1b[1;31m", "\x1b[36m", "\x1b[33m", "\x1b[0m"

    def paint(match: re.Match) -> str:
        tag = match.group("tag") or ""
        colour = cyan if tag == " [*]" else yellow
        return (f"{bold}{match.group('loc')}{reset} {red}{match.group('code')}{reset}"
                + (f" {colour}{tag.strip()}{reset}" if tag else "") + " ")

    return "\n".join(_LINE.sub(paint, line) for line in text.split("\n"))


def colour_diff(text: str) -> str:
    """A unified diff in colour when stdout is a terminal (as ruff's --diff): bold file headers,
    cyan hunk headers, red removed and green added lines; unchanged otherwise."""
    if not use_colour(None):
        return text
    bold, cyan, red, green, reset = "\x1b[1m", "\x1b[36m", "\x1b[31m", "\x1b[32m", "\x1b[0m"
    out = []
    for line in re.findall(r"[^\n]*\n|[^\n]+$", text):  # lines as the diff wrote them (not at form feeds)
        body = line.rstrip("\r\n")
        end = line[len(body):]
        colour = (bold if line.startswith(("--- ", "+++ ")) else cyan if line.startswith("@@")
                  else red if line.startswith("-") else green if line.startswith("+") else "")
        out.append(f"{colour}{body}{reset}{end}" if colour and body else line)
    return "".join(out)
