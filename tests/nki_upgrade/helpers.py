"""Upgrade a legacy kernel source, import the result on the simulator, run it."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import textwrap
import warnings
from pathlib import Path
from types import ModuleType

from porter.translate.nki_upgrade import upgrade_source

_counter = itertools.count()


def upgrade(source: str) -> tuple[str, list]:
    text, report = upgrade_source(textwrap.dedent(source))
    return text, report


def load(text: str, tmp_path: Path) -> ModuleType:
    """Import upgraded code as a module; any DeprecationWarning from the simulator fails the test."""
    name = f"_upgraded_{next(_counter)}"
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def upgraded_module(source: str, tmp_path: Path, markers: int = 0) -> tuple[ModuleType, str]:
    text, report = upgrade(source)
    assert "neuronxcc" not in text
    assert len(report.markers) == markers, (report.markers, text)
    return load(text, tmp_path), text


def run_clean(fn, *args):
    """Call with deprecation warnings as errors: an upgraded kernel uses no deprecated API."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        return fn(*args)
