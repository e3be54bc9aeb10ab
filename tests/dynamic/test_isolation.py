"""Where the models of a parity check come from: only the roots given, never the working directory,
never another root's modules cached in sys.modules (a false PASS otherwise: the original compared
with itself under the candidate's name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from porter.graph.entrypoints import EntrypointError
from porter.graph.loader import ProjectLoader, build
from porter.parity.worker import isolate_path
from tests.dynamic.conftest import FIXTURES, ROOT, outputs_by_name, parity_json, run_cli

ATTENTION = FIXTURES / "attention"
ISOLATION = FIXTURES / "isolation"
ORIGINAL = ISOLATION / "original"            # model.py imports helper.py (SCALE = 2)
NESTED_PORT = ORIGINAL / "ported"            # a port inside the original project (SCALE = 3)
LOST_HELPER = ISOLATION / "ported_missing_helper"  # a port without helper.py


def porter_parity(*args, cwd) -> subprocess.CompletedProcess:
    """The real CLI and the real worker subprocess, started in `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "porter", "parity", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def forward(model: torch.nn.Module) -> list[float]:
    return model(torch.arange(4, dtype=torch.float32)).tolist()


# --- through the CLI and the worker subprocess ---------------------------------------------------

def test_empty_candidate_root_is_not_filled_from_the_working_directory(tmp_path):
    """Regression: run from the original project, an empty candidate root imported the original's
    model.py from the working directory and printed PASS."""
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = porter_parity("--name", "attn", "--candidate-root", empty, cwd=ATTENTION)
    assert proc.returncode == 2, proc.stdout
    assert f"cannot import model from {empty}" in proc.stderr
    assert "PASS" not in proc.stdout


def test_missing_candidate_root_is_an_error_naming_it(tmp_path):
    nowhere = tmp_path / "nowhere"
    proc = porter_parity("--name", "attn", "--candidate-root", nowhere, cwd=ATTENTION)
    assert proc.returncode == 2
    assert f"--candidate-root {nowhere}: the directory does not exist" in proc.stderr


@pytest.mark.parametrize("command", ["parity", "trace", "compile"])
def test_missing_root_is_an_error_naming_it(command, tmp_path):
    """Regression: `--root /nonexistent` said only that no model was given."""
    result = run_cli(command, "--root", tmp_path / "no_root", "--name", "attn")
    assert result.exit_code == 2 and f"--root {tmp_path / 'no_root'}: the directory does not exist" in result.stderr


def test_worker_runs_without_the_working_directory_on_its_path():
    from porter.commands.parity import _worker_python

    command = _worker_python()
    assert command[0] == sys.executable
    assert ("-P" in command) is (sys.version_info >= (3, 11))


def test_a_module_the_port_lost_is_not_borrowed_from_the_working_directory():
    """The port has no helper.py; the original (the working directory here) has one. The worker runs
    with `python -P` and without the working directory on sys.path, so the import fails."""
    proc = porter_parity("--name", "iso", "--candidate-root", LOST_HELPER, cwd=ORIGINAL)
    assert proc.returncode == 2, proc.stdout
    assert f"cannot import model from {LOST_HELPER}" in proc.stderr and "No module named 'helper'" in proc.stderr


def test_a_port_nested_in_the_original_is_compared_with_the_original(tmp_path):
    """Same module names (model, helper) in two roots, one inside the other: each side gets its own."""
    out = tmp_path / "r.json"
    proc = porter_parity("--root", ORIGINAL, "--candidate-root", NESTED_PORT, "--output-format", "json", "-o", out,
                         cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    (output,) = json.loads(out.read_text())["outputs"]
    assert output["max_abs"] == 3.0  # x * 3 against x * 2 for x = 0..3


def test_isolate_path_drops_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", str(tmp_path), os.curdir, str(ROOT)])
    isolate_path()
    assert sys.path == [str(ROOT)]


# --- the loader ----------------------------------------------------------------------------------

def test_module_found_elsewhere_on_the_path_is_refused(tmp_path, monkeypatch):
    """A root without model.py while another directory on sys.path has one: an error naming the
    module, the file it came from and the root expected."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.syspath_prepend(str(ATTENTION))
    with pytest.raises(EntrypointError) as info:
        build(empty, "model:make_model", 0)
    message = str(info.value)
    assert f"module model was imported from {ATTENTION / 'model.py'}" in message
    assert f"not from the project root {empty}" in message
    # the refused module is forgotten: it cannot serve a later root (it used to stay in sys.modules)
    assert not (getattr(sys.modules.get("model"), "__file__", "") or "").startswith(str(ATTENTION))


def test_factory_from_an_installed_library_is_allowed(tmp_path):
    """`torch.nn:Identity` comes from site-packages, not from a project root: a library's
    factory is a legitimate model, the same for every root."""
    empty = tmp_path / "empty"
    empty.mkdir()
    model = build(empty, "torch.nn:Identity", 0)
    assert type(model).__name__ == "Identity"


def test_stale_modules_of_another_root_never_serve_this_one(monkeypatch):
    """The original's model and helper left in sys.modules (as by a leak) are set aside while a
    port is loaded: the port's own files are imported, or the import fails."""
    with ProjectLoader(ORIGINAL) as loader:
        stale_model = sys.modules[loader.resolve("model:make_model").__module__]
        stale_helper = sys.modules["helper"]
    monkeypatch.setitem(sys.modules, "model", stale_model)
    monkeypatch.setitem(sys.modules, "helper", stale_helper)
    # the port without helper.py: not served the original's cached helper
    with pytest.raises(EntrypointError, match="No module named 'helper'"):
        build(LOST_HELPER, "model:make_model", 0)
    # the nested port: its own model and helper
    assert forward(build(NESTED_PORT, "model:make_model", 0)) == [0.0, 3.0, 6.0, 9.0]
    assert sys.modules["model"] is stale_model and sys.modules["helper"] is stale_helper  # put back


def test_nested_roots_in_either_order():
    """The port lives inside the original: loading the original after the port must not reuse the
    port's modules (they are under the original's directory too)."""
    for _ in range(2):
        assert forward(build(NESTED_PORT, "model:make_model", 0)) == [0.0, 3.0, 6.0, 9.0]
        assert forward(build(ORIGINAL, "model:make_model", 0)) == [0.0, 2.0, 4.0, 6.0]


def test_in_process_parity_of_the_nested_port(parity_in_process, tmp_path):
    code, data = parity_json("--root", ORIGINAL, "--candidate-root", NESTED_PORT, out=tmp_path / "r.json")
    assert code == 1
    assert outputs_by_name(data)["output"]["max_abs"] == 3.0
