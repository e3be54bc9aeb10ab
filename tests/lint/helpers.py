"""Helpers shared by the `porter lint` tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner, Result

from porter.cli import app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"

CUDA_CODE = "import torch\nx = torch.zeros(3).cuda()\n"
CLEAN_CODE = "import torch\nx = torch.zeros(3)\n"

_CODE = re.compile(r": (NRN\d{3})(?: \[\*\])? ")


def lint(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["lint", *map(str, args)], env=env)


def porter(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [*map(str, args)])


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fixture(name: str, dest: Path) -> Path:
    """Copy a static fixture from tests/fixtures/lint into the directory `dest`; return the copy."""
    source = FIXTURES / name
    target = dest / source.name
    dest.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return target


def findings(result: Result) -> list[tuple[str, str]]:
    """(location, rule id) for each finding line of a text report, in output order."""
    out = []
    for line in result.stdout.splitlines():
        match = _CODE.search(line)
        if match:
            out.append((line[: match.start()], match.group(1)))
    return out


def codes(result: Result) -> list[str]:
    return [code for _, code in findings(result)]
