"""Parity in the user's own test suite: a pytest plugin (entry point `pytest11`).

    def test_port(porter_parity):
        porter_parity("gpt")                      # [tool.porter.models.gpt] of the reference root

    @pytest.mark.porter_parity(candidate_dtype="bfloat16", layers=True)
    def test_port_bf16(porter_parity):
        porter_parity("gpt")

The reference root is `porter_reference_root` (ini) or pytest's rootdir; the candidate root is
`porter_candidate_root` (ini), `--porter-candidate-root`, or `candidate_root=` given to the marker
or the call. Keyword options are `porter parity`'s options with underscores (`layers=True`,
`candidate_dtype="bfloat16"`, `atol=1e-4`, `train_steps=3`, `tolerance=["output=0,1e-3"]`). A
mismatch fails the test with porter's table as the message; an error (exit 2) fails it with the
error. The run happens in a subprocess, like `porter parity` itself; nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

MARKER = "porter_parity"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("porter", "porter parity (neuron-porter)")
    group.addoption("--porter-candidate-root", default=None,
                    help="The ported project the porter_parity fixture checks against the reference.")
    parser.addini("porter_reference_root", "The original project (default: the rootdir).", default="")
    parser.addini("porter_candidate_root", "The ported project.", default="")
    parser.addini("porter_parity_timeout", "Seconds one parity check may run.", default="600")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(**options): options for the porter_parity fixture's checks in this "
                                       f"test (porter parity's options, underscores for dashes)")


def _argv(name: str | None, options: dict[str, Any]) -> list[str]:
    argv = [] if name is None else ["--name", name]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


class ParityFailure(AssertionError):
    pass


def run_parity(name: str | None, options: dict[str, Any], cwd: Path) -> tuple[int, dict, str]:
    """(exit code, the JSON result, porter's table as text)."""
    with tempfile.TemporaryDirectory(prefix="porter-pytest-") as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, "-m", "porter", "parity", *_argv(name, options), "--output-format",
                               "json", "--output-file", str(out)], capture_output=True, text=True, cwd=cwd,
                              env={**os.environ, "NO_COLOR": "1"})
        result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    text = render_text(result) if result and "error" not in result else (proc.stderr.strip() or proc.stdout.strip())
    return proc.returncode, result, text


def render_text(result: dict) -> str:
    """porter's table, as plain text."""
    import io

    from rich.console import Console

    from porter.parity import output

    buffer = io.StringIO()
    console = Console(file=buffer, width=160, no_color=True, highlight=False, emoji=False)
    output.print_table(result, console=console)
    return buffer.getvalue()


@pytest.fixture
def porter_parity(request: pytest.FixtureRequest):
    """Call with a model name from [tool.porter.models] (or model=/inputs= entrypoints) and options;
    fails the test on a mismatch with porter's table, returns the result dict on a pass."""
    config = request.config
    marker_options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        marker_options.update(marker.kwargs)
    timeout = config.getini("porter_parity_timeout")

    def check(name: str | None = None, **options: Any) -> dict:
        merged = {**marker_options, **options}
        root = Path(merged.pop("root", None) or config.getini("porter_reference_root") or config.rootpath)
        if not root.is_absolute():
            root = config.rootpath / root
        candidate_root = (merged.pop("candidate_root", None) or config.getoption("--porter-candidate-root")
                          or config.getini("porter_candidate_root"))
        if candidate_root and not Path(candidate_root).is_absolute():
            candidate_root = config.rootpath / candidate_root
        merged.setdefault("timeout", timeout)
        code, result, text = run_parity(name, {"root": root, "candidate_root": candidate_root, **merged},
                                        config.rootpath)
        if code == 1:
            raise ParityFailure(f"porter parity {name or ''}: mismatch\n{text}")
        if code != 0:
            pytest.fail(f"porter parity {name or ''}: error (exit {code})\n{text}", pytrace=False)
        return result

    return check


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A parity mismatch is reported as porter's table alone, without a Python traceback."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(ParityFailure):
        report.longrepr = str(call.excinfo.value)
