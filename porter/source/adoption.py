"""Turning the hook on in a large repository today: a baseline of known findings, and only the
lines changed since a git revision."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

from porter.source.findings import Finding


class AdoptionError(ValueError):
    """A baseline that cannot be read or a revision git does not know; the message says which."""


def _key(path: str, cell: int | None, code: str, message: str) -> tuple[str, int | None, str, str]:
    # Lines move as a file is edited; the file, rule and message (which names the construct) do not.
    # The file is absolute: a run from a subfolder, or naming the file another way, still matches.
    return os.path.normpath(os.path.abspath(path)), cell, code, message


def _base(path: Path, names: list[str]) -> Path:
    """The folder the baseline's relative file names are read from: its own (it is made in the
    repository root), unless none of its files is there and the working directory has them."""
    relative = [n for n in names if not os.path.isabs(n)]
    if not relative or any((path.parent / n).exists() for n in relative):
        return path.parent
    return Path.cwd() if any(Path(n).exists() for n in relative) else path.parent


def load_baseline(path: Path) -> Counter:
    """Known findings, counted by (absolute file, cell, rule, message), from `porter lint
    --output-format json`."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AdoptionError(f"--baseline {path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise AdoptionError(f"--baseline {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and {"filename", "code", "message"} <= set(r) for r in records):
        raise AdoptionError(f"--baseline {path}: expected the JSON list `porter lint --output-format json` writes")
    base = _base(path, [r["filename"] for r in records])
    return Counter(_key(str(base / r["filename"]), r.get("cell"), r["code"], r["message"]) for r in records)


def apply_baseline(findings: list[Finding], baseline: Counter) -> tuple[list[Finding], int]:
    """The findings the baseline does not know (each known one absorbs one finding), and how many it knew."""
    left = Counter(baseline)
    kept: list[Finding] = []
    known = 0
    for f in findings:
        key = _key(f.path, f.cell, f.rule_id, f.message)
        if left[key] > 0 and not f.rule_id.startswith("NRN0"):
            left[key] -= 1
            known += 1
        else:
            kept.append(f)
    return kept, known


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def _git(args: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              errors="surrogateescape")
    except OSError as exc:
        raise AdoptionError(f"--diff-base needs git ({exc.strerror})") from None
    if proc.returncode != 0:
        raise AdoptionError(f"--diff-base: git {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def changed_lines(revision: str, cwd: Path) -> dict[str, set[int] | None]:
    """Per absolute file path, the lines added or changed since `revision` (None: the whole file,
    for files git does not track yet)."""
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd)
    except AdoptionError:
        raise AdoptionError(f"--diff-base {revision}: not a commit git knows in {top}") from None
    # Renames are followed (a moved file's old findings are not new), whatever diff.renames says.
    # Fixed prefixes and unquoted names whatever the user's git config (diff.noprefix,
    # diff.mnemonicPrefix, core.quotePath); a name git still quotes is unquoted below.
    diff = _git(["-c", "core.quotePath=false", "diff", "--unified=0", "--no-color", "--no-ext-diff",
                 "--find-renames", "--src-prefix=a/", "--dst-prefix=b/", revision, "--"], top)
    changed: dict[str, set[int] | None] = {}
    current: set[int] | None = None
    for line in diff.split("\n"):
        if line.startswith("+++ "):
            # git ends the name with a tab when it holds a space, and C-quotes an unusual one
            name = _unquote(line[4:].rstrip("\t"))
            if name == "/dev/null":
                current = None
                continue
            name = name[2:] if name.startswith("b/") else name
            current = changed.setdefault(os.path.normpath(top / name), set())
        elif (match := _HUNK.match(line)) and current is not None:
            start, count = int(match.group(1)), int(match.group(2) or 1)
            current.update(range(start, start + count))
    for name in _git(["ls-files", "--others", "--exclude-standard", "-z"], top).split("\0"):
        if name:
            changed[os.path.normpath(top / name)] = None
    return changed


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(name: str) -> str:
    """A path as git C-quotes it (`"b/caf\\303\\251.py"`), back to the name (bytes git escaped as
    octal come back as the file system's name)."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            if body[i + 1] in "01234567":
                out.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(_ESCAPES.get(body[i + 1], ord(body[i + 1])))
            i += 2
            continue
        out += body[i].encode("utf-8", "surrogateescape")
        i += 1
    return os.fsdecode(bytes(out))


def apply_diff_base(findings: list[Finding], changed: dict[str, set[int] | None]) -> tuple[list[Finding], int]:
    """The findings on changed lines (every finding of a new file, and porter's own diagnostics),
    and how many were left out."""
    kept: list[Finding] = []
    for f in findings:
        key = os.path.normpath(os.path.abspath(f.path))
        lines = changed.get(key, set())
        if f.rule_id.startswith("NRN0") or lines is None or (f.cell is not None and key in changed):
            kept.append(f)  # a notebook's lines are not its cells' lines: a changed notebook is all new
        elif any(line in lines for line in range(f.line, f.end_line + 1)):
            kept.append(f)
    return kept, len(findings) - len(kept)
