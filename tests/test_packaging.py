"""A plain, non-editable `pip install .` into a fresh virtualenv: the core install works without torch,
and the wheel carries the whole rule catalogue."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from porter.source.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    # Build from a copy so the checkout's build/ and egg-info are not touched.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    return env


def run(env: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(env / "bin" / "porter"), *args], capture_output=True, text=True, cwd=cwd)


def test_core_install_has_no_torch(core_venv):
    probe = subprocess.run(
        [str(core_venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == "None"


def test_wheel_ships_the_whole_catalogue(core_venv):
    result = run(core_venv, "rules", "--output-format", "json")
    assert result.returncode == 0, result.stderr
    shipped = {r["id"] for r in json.loads(result.stdout)}
    assert shipped == {r.id for r in load_catalogue()}
    assert len(shipped) > 10


def test_core_install_lints(core_venv, tmp_path):
    (tmp_path / "train.py").write_text("import torch\nmodel = torch.nn.Linear(2, 2).cuda()\n")
    result = run(core_venv, "lint", "train.py", "--no-cache", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "train.py:2:" in result.stdout and "NRN101" in result.stdout


def test_core_install_explains_a_rule(core_venv):
    result = run(core_venv, "rule", "NRN101")
    assert result.returncode == 0
    assert result.stdout.startswith("# NRN101")


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A non-editable install whose runtime dependencies (torch, numpy, ...) come from this
    interpreter's site-packages through a .pth line, so the test needs no download."""
    import sysconfig

    env = tmp_path_factory.mktemp("runtime-venv")
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "porter-test-runtime.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    return env


def test_wheel_runs_the_kernel_tests(runtime_venv, tmp_path):
    where = subprocess.run([str(runtime_venv / "bin" / "python"), "-c",
                            "import porter.kernels, porter.nki; print(porter.kernels.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(runtime_venv) in where.stdout, "porter.kernels must come from the wheel, not the checkout"
    result = run(runtime_venv, "kernels", "test", "rmsnorm", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rmsnorm" in result.stdout


def test_wheel_ships_the_operator_table_and_the_run_bootstrap(core_venv):
    probe = subprocess.run(
        [str(core_venv / "bin" / "python"), "-c",
         "import porter.graph.neuron_ops as ops, porter.emulate.run as run; "
         "print(ops.lookup('aten.mm.default').verdict, (run.BOOTSTRAP_DIR / 'sitecustomize.py').is_file())"],
        capture_output=True, text=True,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["Y", "True"]


def test_wheel_ships_the_rule_pages_its_urls_point_to(core_venv, tmp_path):
    (tmp_path / "a.py").write_text("import torch\nx = torch.zeros(1).cuda()\n")
    result = run(core_venv, "lint", "a.py", "--no-cache", "--output-format", "json", cwd=tmp_path)
    url = json.loads(result.stdout)[0]["url"]
    assert url and url.startswith("file://") and str(core_venv) in url, url
    page = Path(url[len("file://"):])
    assert page.is_file() and page.read_text().startswith("# NRN101 ")
