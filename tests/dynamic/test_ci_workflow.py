"""examples/ci/porter.yml: a pull-request workflow whose jobs install porter (torch pinned to the CPU
build through a constraints file), run `porter lint --output-format github` and `porter parity`, and
upload the JUnit / Markdown results. Parsed with PyYAML when it is installed, else checked as text."""

from __future__ import annotations

import re

import pytest

from tests.dynamic.conftest import EXAMPLES

WORKFLOW = EXAMPLES / "ci" / "porter.yml"


def load_workflow() -> dict | None:
    try:
        import yaml
    except ImportError:
        return None
    return yaml.safe_load(WORKFLOW.read_text())


def job_commands(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_structure():
    workflow = load_workflow()
    if workflow is None:
        pytest.skip("PyYAML is not installed: see test_workflow_text for the structural check")
    # PyYAML reads the bare key `on` as True
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    jobs = workflow["jobs"]
    commands = {name: job_commands(job) for name, job in jobs.items()}
    lint_jobs = [n for n, c in commands.items() if re.search(r"porter lint .*--output-format github", c)]
    parity_jobs = [n for n, c in commands.items() if re.search(r"porter parity\b", c)]
    assert lint_jobs and parity_jobs
    for name in parity_jobs:
        run = commands[name]
        assert "--output-format junit" in run and "--output-format markdown" in run
        assert re.search(r"pip install -c \S*constraints\.txt\"? .*--index-url https://download\.pytorch\.org/whl/cpu "
                         r"torch", run)
        assert "torch==2.13.0" in run
        uploads = [s for s in jobs[name]["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
        assert uploads and uploads[0].get("if") == "always()"
        assert "porter-results" in uploads[0]["with"]["path"]
        # the parity step that writes JUnit must not run before porter is installed
        runs = [s.get("run", "") for s in jobs[name]["steps"]]
        install = next(i for i, r in enumerate(runs) if "neuron-porter[runtime]" in r)
        parity = next(i for i, r in enumerate(runs) if "porter parity" in r)
        assert install < parity
    for name in lint_jobs:
        assert "pip install" in commands[name]


def test_workflow_text():
    """Structural check that does not need PyYAML."""
    text = WORKFLOW.read_text()
    assert re.search(r"^on:\s*\n\s+pull_request:", text, re.M)
    assert re.search(r"^jobs:\s*$", text, re.M)
    assert "porter lint --output-format github" in text
    assert "porter parity --root" in text
    assert "-c \"$RUNNER_TEMP/constraints.txt\"" in text and 'echo "torch==2.13.0"' in text
    assert "https://download.pytorch.org/whl/cpu" in text
    assert "actions/upload-artifact" in text and "parity.xml" in text and "parity.md" in text
    assert "\t" not in text  # YAML forbids tabs for indentation


def test_readme_is_short():
    lines = [line for line in (EXAMPLES / "ci" / "README.md").read_text().splitlines() if line.strip()]
    assert 3 <= len(lines) <= 7 and "porter.yml" in lines[1]
