"""The `porter lint` command-line contract: exit codes, options, selection, targets, text output."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.lint.helpers import CLEAN_CODE, CUDA_CODE, codes, findings, fixture, lint, write

TEXT_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<id>NRN\d{3})(?P<fix> \[\*\])? (?P<msg>.+)$")


# -- exit codes ----------------------------------------------------------------------------------


def test_clean_file_exits_0(tmp_path):
    write(tmp_path / "clean.py", CLEAN_CODE)
    result = lint("clean.py", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "All checks passed!" in result.stdout


def test_clean_fixture_with_cuda_free_torch_code_exits_0(tmp_path):
    fixture("clean.py", tmp_path)
    result = lint("clean.py", "--no-cache")
    assert result.exit_code == 0, result.output
    assert codes(result) == []


def test_findings_exit_1(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache")
    assert result.exit_code == 1
    assert codes(result) == ["NRN101"]


def test_default_path_is_cwd(tmp_path):
    write(tmp_path / "pkg" / "a.py", CUDA_CODE)
    result = lint("--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("pkg/a.py:2:20", "NRN101")]


def test_exit_zero_keeps_the_report(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache", "--exit-zero")
    assert result.exit_code == 0
    assert codes(result) == ["NRN101"]


def test_unknown_option_is_usage_error():
    result = lint("--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.stderr


@pytest.mark.parametrize("option", ["--select", "--ignore", "--extend-select"])
def test_unknown_rule_selector_is_usage_error(tmp_path, option):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache", option, "NRN999")
    assert result.exit_code == 2
    assert "NRN999" in result.stderr
    assert option in result.stderr
    assert result.stdout == ""


def test_bad_target_is_usage_error(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--target", "cuda")
    assert result.exit_code == 2
    assert "--target" in result.stderr and "'cuda'" in result.stderr


def test_bad_output_format_is_usage_error(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--output-format", "xml")
    assert result.exit_code == 2
    assert "--output-format" in result.stderr


def test_nonexistent_path_is_a_diagnostic_and_the_run_goes_on(tmp_path):
    # README, "Bad input": NRN005 is "path that does not exist", reported like any finding (exit 1),
    # and the other paths are still checked.
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("missing.py", "a.py", "--no-cache")
    assert result.exit_code == 1
    assert findings(result) == [("a.py:2:20", "NRN101"), ("missing.py:1:1", "NRN005")]
    assert "does not exist" in result.stdout


def test_config_error_exits_2(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.porter]\ntarget = 3\n")
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache")
    assert result.exit_code == 2
    assert "pyproject.toml" in result.stderr and "target" in result.stderr


def test_exit_zero_does_not_hide_usage_or_config_errors(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.porter]\ntarget = "gpu"\n')
    write(tmp_path / "a.py", CUDA_CODE)
    assert lint("a.py", "--no-cache", "--exit-zero").exit_code == 2
    assert lint("a.py", "--no-cache", "--exit-zero", "--select", "NRN999").exit_code == 2


def test_internal_error_exits_2(tmp_path, monkeypatch):
    import porter.source.runner as runner

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(runner, "lint_paths", boom)
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache")
    assert result.exit_code == 2
    assert "kaboom" in result.stderr


def test_process_exit_codes(tmp_path):
    """The real process, not just the in-process runner: 0, 1, 2."""
    write(tmp_path / "clean.py", CLEAN_CODE)
    write(tmp_path / "a.py", CUDA_CODE)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "porter", "lint", "--no-cache", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60).returncode

    assert run("clean.py") == 0
    assert run("a.py") == 1
    assert run("a.py", "--select", "NRN999") == 2


# -- --statistics, --output-file ---------------------------------------------------------------


def test_statistics_counts_per_rule(tmp_path):
    write(tmp_path / "a.py", "import torch\nx = torch.zeros(3).cuda()\ny = x.cuda()\ntorch.cuda.synchronize()\n")
    result = lint("a.py", "--no-cache", "--statistics")
    assert result.exit_code == 1
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [["2", "NRN101", "[*]", "cuda-method"], ["1", "NRN123", "[*]", "cuda-synchronize"]]


def test_statistics_with_exit_zero(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache", "--statistics", "--exit-zero")
    assert result.exit_code == 0
    assert "NRN101" in result.stdout


def test_output_file_is_written_and_stdout_stays_empty(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache", "--output-file", "reports/out.txt")
    assert result.exit_code == 1
    assert result.stdout == ""
    text = (tmp_path / "reports" / "out.txt").read_text(encoding="utf-8")
    assert text.startswith("a.py:2:20: NRN101 [*] ")


def test_output_file_short_option_with_json(tmp_path):
    import json

    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache", "-o", "out.json", "--output-format", "json")
    assert result.exit_code == 1
    assert [r["code"] for r in json.loads((tmp_path / "out.json").read_text())] == ["NRN101"]


def test_output_file_that_cannot_be_written_exits_2(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    (tmp_path / "adir").mkdir()
    result = lint("a.py", "--no-cache", "-o", "adir")
    assert result.exit_code == 2
    assert "cannot write report" in result.stderr


def test_output_format_from_environment(tmp_path):
    import json

    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "--no-cache", env={"PORTER_OUTPUT_FORMAT": "json"})
    assert json.loads(result.stdout)[0]["code"] == "NRN101"


# -- selection ---------------------------------------------------------------------------------

SELECTION_CODE = """\
import torch
torch.backends.cudnn.benchmark = True
x = torch.zeros(3).cuda()
torch.cuda.synchronize()
y = x.half()
"""


@pytest.fixture
def selection_file(tmp_path):
    write(tmp_path / "s.py", SELECTION_CODE)
    return "s.py"


def test_default_selection(selection_file):
    assert codes(lint(selection_file, "--no-cache")) == ["NRN150", "NRN101", "NRN123", "NRN206"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "NRN101"], ["NRN101"]),
        (["--select", "nrn101"], ["NRN101"]),
        (["--select", "NRN1"], ["NRN150", "NRN101", "NRN123"]),
        (["--select", "NRN12"], ["NRN123"]),
        (["--select", "NRN101,NRN206"], ["NRN101", "NRN206"]),
        (["--select", "NRN101", "--select", "NRN206"], ["NRN101", "NRN206"]),
        (["--select", "ALL"], ["NRN150", "NRN101", "NRN123", "NRN206"]),
        (["--ignore", "NRN101"], ["NRN150", "NRN123", "NRN206"]),
        (["--ignore", "NRN1"], ["NRN206"]),
        (["--ignore", "NRN1,NRN2"], []),
        (["--select", "NRN101", "--ignore", "NRN1"], ["NRN101"]),  # longer selector wins
        (["--select", "NRN1", "--ignore", "NRN101"], ["NRN150", "NRN123"]),
        (["--select", "NRN2", "--extend-select", "NRN123"], ["NRN123", "NRN206"]),
        (["--select", "NRN101", "--extend-select", "NRN15"], ["NRN150", "NRN101"]),
    ],
)
def test_select_ignore_extend_select(selection_file, args, expected):
    result = lint(selection_file, "--no-cache", *args)
    assert codes(result) == expected
    assert result.exit_code == (1 if expected else 0)


def test_ignoring_a_rule_does_not_hand_its_code_to_a_catch_all(tmp_path):
    # `torch.cuda.*` has a catch-all (NRN139); the specific rules own their calls even when ignored
    write(tmp_path / "rt.py", "import torch\nif torch.cuda.is_available():\n    torch.cuda.synchronize()\n"
                              "torch.cuda.foo_bar()\n")
    assert codes(lint("rt.py", "--no-cache")) == ["NRN120", "NRN123", "NRN139"]
    assert codes(lint("rt.py", "--no-cache", "--ignore", "NRN120,NRN123")) == ["NRN139"]
    write(tmp_path / "pyproject.toml", '[tool.porter]\nignore = ["NRN123"]\n')
    assert codes(lint("rt.py", "--no-cache")) == ["NRN120", "NRN139"]


def test_porter_diagnostics_run_even_when_not_selected(tmp_path):
    # the file holds a token of the selected rules (`half`), so it is parsed, and does not parse
    write(tmp_path / "bad.py", "import torch\nprint 'x', torch.zeros(1).half()\n")
    result = lint("bad.py", "--no-cache", "--select", "NRN2")
    assert codes(result) == ["NRN001"]
    assert codes(lint("bad.py", "--no-cache", "--ignore", "NRN001")) == []


# -- targets ------------------------------------------------------------------------------------


def test_targets_give_different_findings(tmp_path):
    fixture("cuda_sample.py", tmp_path)
    neuron = codes(lint("cuda_sample.py", "--no-cache"))
    explicit = codes(lint("cuda_sample.py", "--no-cache", "--target", "neuron"))
    portable = codes(lint("cuda_sample.py", "--no-cache", "--target", "portable"))
    xla = codes(lint("cuda_sample.py", "--no-cache", "--target", "xla"))
    assert neuron == explicit == ["NRN150", "NRN101", "NRN502"]
    # cudnn flags and the default compile backend are fine in portable code
    assert portable == ["NRN101"]
    assert xla == ["NRN150", "NRN101", "NRN502"]


def test_target_is_named_in_the_summary(tmp_path):
    fixture("cuda_sample.py", tmp_path)
    assert "(target: portable)" in lint("cuda_sample.py", "--no-cache", "--target", "portable").stdout
    assert "(target: neuron)" in lint("cuda_sample.py", "--no-cache").stdout


def test_fix_marker_depends_on_target(tmp_path):
    # NRN107 has a safe fix on neuron and only a manual one on portable
    write(tmp_path / "c.py", "import torch\nif x.device.type == 'cuda':\n    pass\n")
    neuron = lint("c.py", "--no-cache").stdout.splitlines()[0]
    portable = lint("c.py", "--no-cache", "--target", "portable").stdout.splitlines()[0]
    assert "NRN107 [*] " in neuron
    assert "NRN107 " in portable and "[*]" not in portable


# -- text format -----------------------------------------------------------------------------------


def test_text_format_lines(tmp_path):
    fixture("cuda_sample.py", tmp_path)
    result = lint("cuda_sample.py", "--no-cache")
    lines = result.stdout.splitlines()
    parsed = [TEXT_LINE.match(line) for line in lines[:3]]
    assert all(parsed), lines
    assert [(m["path"], m["line"], m["col"], m["id"]) for m in parsed] == [
        ("cuda_sample.py", "3", "1", "NRN150"),
        ("cuda_sample.py", "4", "20", "NRN101"),
        ("cuda_sample.py", "5", "9", "NRN502"),
    ]
    assert all(m["fix"] == " [*]" for m in parsed)
    assert parsed[1]["msg"].startswith("`.cuda()` moves data to a CUDA device")
    assert lines[3] == "Found 3 findings (target: neuron)."
    assert lines[4].startswith("[*] 3 fixable")


def test_text_format_without_fix_marker(tmp_path):
    # NRN126 (memory summary) has a manual fix only: no [*]
    write(tmp_path / "m.py", "import torch\nprint(torch.cuda.memory_summary())\n")
    result = lint("m.py", "--no-cache")
    (line,) = [ln for ln in result.stdout.splitlines() if "NRN126" in ln]
    assert TEXT_LINE.match(line)["fix"] is None
    assert "fixable" not in result.stdout


def test_paths_are_shown_as_given(tmp_path):
    write(tmp_path / "pkg" / "a.py", CUDA_CODE)
    rel = lint("pkg", "--no-cache")
    absolute = lint(tmp_path / "pkg", "--no-cache")
    assert findings(rel) == [("pkg/a.py:2:20", "NRN101")]
    assert findings(absolute) == [(f"{tmp_path}/pkg/a.py:2:20", "NRN101")]


def test_no_python_files_warns(tmp_path):
    (tmp_path / "empty").mkdir()
    result = lint("empty", "--no-cache")
    assert result.exit_code == 0
    assert "no Python files found" in result.stderr


def test_duplicate_paths_are_checked_once(tmp_path):
    write(tmp_path / "a.py", CUDA_CODE)
    result = lint("a.py", "a.py", ".", "--no-cache")
    assert codes(result) == ["NRN101"]


def test_findings_sorted_by_path_then_position(tmp_path):
    write(tmp_path / "b.py", CUDA_CODE)
    write(tmp_path / "a.py", "import torch\n\n\nx = torch.zeros(3).cuda()\ntorch.cuda.synchronize()\n")
    result = lint("b.py", "a.py", "--no-cache")
    assert [loc for loc, _ in findings(result)] == ["a.py:4:20", "a.py:5:1", "b.py:2:20"]


def test_jobs_option_gives_same_result_in_parallel(tmp_path):
    for i in range(30):  # above the parallel threshold
        write(tmp_path / f"m{i:02d}.py", CUDA_CODE)
    serial = lint(".", "--no-cache", "--jobs", "1")
    parallel = lint(".", "--no-cache", "--jobs", "2")
    assert serial.exit_code == parallel.exit_code == 1
    assert serial.stdout == parallel.stdout
    assert len(codes(serial)) == 30
