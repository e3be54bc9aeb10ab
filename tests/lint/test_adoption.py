"""Turning the hook on in a large repository: marked sites acknowledged, --strict-markers,
--baseline, --diff-base, --add-noqa; and ruff's contract: stdin, JSON/SARIF fix edits and rule
URLs, colour only on a terminal."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from porter.cli import app
from tests.lint.helpers import FIXTURES, lint, write

CASES = FIXTURES / "adoption"


@pytest.fixture
def ported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(CASES / "ported.py", tmp_path / "ported.py")
    return tmp_path / "ported.py"


def test_a_marked_site_is_acknowledged_not_a_failure(ported):
    result = lint("ported.py", "--no-cache")
    assert "ported.py:6:14: NRN131 [marked] `torch.cuda.Stream`" in result.stdout
    assert "1 marked site acknowledged" in result.stdout
    assert "ported.py:7:11: NRN101 [*]" in result.stdout and "Found 1 finding" in result.stdout
    assert result.exit_code == 1  # the unmarked .cuda() still fails
    ported.write_text(ported.read_text().replace("    y = x.cuda()\n", "    y = x\n"))
    clean = lint("ported.py", "--no-cache")
    assert clean.exit_code == 0, clean.stdout
    assert "All checks passed!" in clean.stdout
    strict = lint("ported.py", "--no-cache", "--strict-markers")
    assert strict.exit_code == 1 and "Found 1 finding" in strict.stdout


def test_a_ported_compile_with_the_programs_own_backend_passes(tmp_path, monkeypatch):
    # port marks `backend=backend` (the program's own value); lint must see that marker, whatever
    # node the finding stands on (here the keyword's value inside a with block)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", "import torch\n\ndef f(g, setup):\n    with setup() as backend:\n"
                             "        fn = torch.compile(\n            g, backend=backend, fullgraph=True\n"
                             "        )\n    return fn\n")
    assert CliRunner().invoke(app, ["port", "a.py", "--in-place", "--force", "--no-cache"]).exit_code == 0
    result = lint("a.py", "--no-cache")
    assert result.exit_code == 0, result.stdout
    assert "NRN501 [marked]" in result.stdout


def test_a_marker_for_another_rule_acknowledges_nothing(ported):
    ported.write_text(ported.read_text().replace("NRN131", "NRN133"))
    result = lint("ported.py", "--no-cache")
    assert "NRN131 [marked]" not in result.stdout and "Found 2 findings" in result.stdout


def test_marked_sites_in_json_sarif_junit_and_github(ported):
    ported.write_text(ported.read_text().replace("    y = x.cuda()\n", "    y = x\n"))
    records = json.loads(lint("ported.py", "--no-cache", "--output-format", "json").stdout)
    assert [r["marked"] for r in records] == [True]
    sarif = json.loads(lint("ported.py", "--no-cache", "--output-format", "sarif").stdout)
    assert sarif["runs"][0]["results"][0]["suppressions"][0]["kind"] == "inSource"
    assert "<failure" not in lint("ported.py", "--no-cache", "--output-format", "junit").stdout
    assert lint("ported.py", "--no-cache", "--output-format", "github").stdout == ""


def test_a_baseline_hides_known_findings_and_catches_new_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", "import torch\nx = torch.zeros(1).cuda()\n")
    made = lint("a.py", "--no-cache", "--output-format", "json", "-o", "baseline.json")
    assert made.exit_code == 1
    known = lint("a.py", "--no-cache", "--baseline", "baseline.json")
    assert known.exit_code == 0, known.stdout
    assert "1 finding known in the baseline baseline.json, not shown." in known.stdout
    write(tmp_path / "a.py", "import torch\n\n\nx = torch.zeros(1).cuda()\ny = x.cuda()\n")  # moved + one new
    new = lint("a.py", "--no-cache", "--baseline", "baseline.json")
    assert new.exit_code == 1 and "Found 1 finding" in new.stdout
    bad = lint("a.py", "--no-cache", "--baseline", "a.py")
    assert bad.exit_code == 2 and "--baseline a.py: not JSON" in bad.stderr


def test_a_baseline_holds_from_a_subfolder_and_for_any_spelling_of_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pkg" / "a.py", "import torch\nx = torch.zeros(1).cuda()\n")
    lint(".", "--no-cache", "--output-format", "json", "--exit-zero", "-o", ".porter-baseline.json")
    for where, args in ((tmp_path, ["./pkg/a.py"]), (tmp_path, [str(tmp_path / "pkg")]),
                        (tmp_path / "pkg", ["."])):
        monkeypatch.chdir(where)
        known = lint(*args, "--no-cache", "--baseline", str(tmp_path / ".porter-baseline.json"))
        assert known.exit_code == 0, (where, args, known.stdout)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_base_reports_only_changed_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], check=True)
    write(tmp_path / "old.py", "import torch\nx = torch.zeros(1).cuda()\n")
    subprocess.run(["git", "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    write(tmp_path / "old.py", "import torch\nx = torch.zeros(1).cuda()\ny = x.cuda()\n")
    write(tmp_path / "new.py", "import torch\nz = torch.ones(1).cuda()\n")
    result = lint(".", "--no-cache", "--diff-base", "HEAD")
    assert result.exit_code == 1
    assert "old.py:3:7: NRN101" in result.stdout and "new.py:2:19: NRN101" in result.stdout
    assert "old.py:2:" not in result.stdout
    assert "1 finding on lines unchanged since HEAD, not shown." in result.stdout
    unknown = lint(".", "--no-cache", "--diff-base", "no-such-rev")
    assert unknown.exit_code == 2 and "--diff-base no-such-rev: not a commit git knows" in unknown.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_base_follows_renames_and_the_linted_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    write(repo / "old.py", "import torch\nx = torch.zeros(1).cuda()\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=repo, check=True)
    subprocess.run(["git", "mv", "old.py", "moved.py"], cwd=repo, check=True)
    write(repo / "moved.py", "import torch\nx = torch.zeros(1).cuda()\ny = x.cuda()\n")
    monkeypatch.chdir(tmp_path)  # not the repository: git runs where the linted paths are
    result = lint("repo", "--no-cache", "--diff-base", "HEAD")
    assert result.exit_code == 1, result.output
    assert "repo/moved.py:3:7: NRN101" in result.stdout and "moved.py:2:" not in result.stdout
    assert "1 finding on lines unchanged since HEAD, not shown." in result.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_base_reads_any_file_name_whatever_the_git_config(tmp_path, monkeypatch):
    # git quotes non-ASCII names, ends names holding a space with a tab, and diff.noprefix /
    # diff.mnemonicPrefix change the b/ prefix: none may hide a changed line
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], check=True)
    names = ["é.py", "sp ace.py", 'q"uote.py']
    for name in names:
        write(tmp_path / name, "import torch\nx = torch.zeros(1).cuda()\n")
    subprocess.run(["git", "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    subprocess.run(["git", "config", "diff.noprefix", "true"], check=True)
    subprocess.run(["git", "config", "diff.mnemonicPrefix", "true"], check=True)
    for name in names:
        write(tmp_path / name, "import torch\nx = torch.zeros(1).cuda()\ny = x.cuda()\n")
    result = lint(".", "--no-cache", "--diff-base", "HEAD")
    assert result.exit_code == 1, result.output
    for name in names:
        assert f"{name}:3:7: NRN101" in result.stdout, (name, result.stdout)
    assert "3 findings on lines unchanged since HEAD, not shown." in result.stdout


def test_add_noqa_silences_each_line_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(CASES / "noqa_cases.py", tmp_path / "m.py")
    write(tmp_path / "s.py", 'import torch\nx = f"""{torch.zeros(1).cuda()}\n"""\n')
    result = lint(".", "--no-cache", "--add-noqa")
    assert result.exit_code == 0, result.output
    assert "Added 4 noqa directives." in result.stdout
    assert (tmp_path / "s.py").read_text().splitlines()[2] == '"""  # noqa: NRN101'  # the string's last line
    lines = (tmp_path / "m.py").read_text().splitlines()
    assert lines[2] == "a = torch.zeros(1).cuda()  # noqa: NRN101"
    assert lines[3] == "b = torch.zeros(1).cuda()  # noqa: E501, NRN101"
    assert lines[4] == "c = torch.zeros(1).cuda()  # noqa"
    assert lines[5] == "d = torch.zeros(1).cuda() + torch.ones(1).cuda()  # noqa: NRN101"
    after = lint("m.py", "--no-cache")
    assert after.exit_code == 0, after.stdout
    assert lint(".", "--no-cache", "--add-noqa").stdout == "Added 0 noqa directives.\n"


def test_noqa_goes_where_ruff_puts_it_in_continuations_and_strings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = ("import torch\n"
            "u = torch.zeros(1).cuda() \\\n"
            "    + torch.ones(1).cuda() \\\n"
            "    + 1\n"
            "s = \"\"\"a\nb\"\"\" + torch.zeros(1).cuda()\n")
    write(tmp_path / "c.py", code)
    assert lint("c.py", "--no-cache").stdout.count("NRN101") == 3
    added = lint("c.py", "--no-cache", "--add-noqa")
    assert added.stdout == "Added 2 noqa directives.\n" and added.stderr == "", added.output
    lines = (tmp_path / "c.py").read_text().splitlines()
    assert lines[3] == "    + 1  # noqa: NRN101" and lines[5] == 'b""" + torch.zeros(1).cuda()  # noqa: NRN101'
    assert lint("c.py", "--no-cache").exit_code == 0  # a noqa at the continuation's end silences its lines
    assert lint("c.py", "--no-cache", "--add-noqa").stdout == "Added 0 noqa directives.\n"
    # a finding on a middle line of a multi-line f-string: the noqa goes after its closing quotes
    write(tmp_path / "f.py", 'import torch\nx = f"""\n{torch.zeros(1).cuda()}\n"""\n')
    assert lint("f.py", "--no-cache", "--add-noqa").stdout == "Added 1 noqa directive.\n"
    assert (tmp_path / "f.py").read_text().splitlines()[3] == '"""  # noqa: NRN101'
    assert lint("f.py", "--no-cache").exit_code == 0
    assert lint("f.py", "--no-cache", "--add-noqa").stdout == "Added 0 noqa directives.\n"


def test_add_noqa_names_notebooks_it_leaves_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": ["import torch\n", "x = torch.zeros(1).cuda()\n"]}
    write(tmp_path / "n.ipynb", json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = lint("n.ipynb", "--no-cache", "--add-noqa")
    assert result.stdout == "Added 0 noqa directives.\n"
    assert "n.ipynb: no noqa added: a notebook" in result.stderr


def test_lint_and_port_read_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", '[tool.porter]\nper-file-ignores = { "tests/*" = ["NRN101"] }\n')
    code = "import torch\nq = torch.ones(1).cuda()\n"
    runner = CliRunner()
    found = runner.invoke(app, ["lint", "-", "--stdin-filename", "pkg/m.py"], input=code)
    assert found.exit_code == 1 and "pkg/m.py:2:19: NRN101" in found.stdout
    ignored = runner.invoke(app, ["lint", "-", "--stdin-filename", "tests/t.py"], input=code)
    assert ignored.exit_code == 0, ignored.stdout  # the file name's settings apply
    diff = runner.invoke(app, ["port", "-", "--diff", "--stdin-filename", "m.py"], input=code)
    assert diff.exit_code == 1 and "+q = torch.ones(1).to(_porter_device())" in diff.stdout
    ported = runner.invoke(app, ["port", "-"], input=code)
    assert ported.exit_code == 0 and ported.stdout.endswith("q = torch.ones(1).to(_porter_device())\n")
    refused = runner.invoke(app, ["port", "-", "--in-place"], input=code)
    assert refused.exit_code == 2
    checked = runner.invoke(app, ["port", "-", "--check"], input=code)
    assert checked.exit_code == 1 and checked.stdout == ""
    assert runner.invoke(app, ["port", "-", "--check"], input="import torch\n").exit_code == 0


def test_stdin_named_into_an_excluded_folder_under_force_exclude(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", '[tool.porter]\nextend-exclude = ["gen"]\n')
    code = "import torch\nq = torch.ones(1).cuda()\n"
    runner = CliRunner()
    skipped = runner.invoke(app, ["lint", "-", "--stdin-filename", "gen/m.py", "--force-exclude"], input=code)
    assert skipped.exit_code == 0 and "NRN101" not in skipped.stdout, skipped.output  # as ruff
    checked = runner.invoke(app, ["lint", "-", "--stdin-filename", "gen/m.py"], input=code)
    assert checked.exit_code == 1  # without --force-exclude a name given is checked


def test_port_from_stdin_leaves_a_notebook_alone():
    notebook = '{"cells": [], "metadata": {"device": "cuda"}, "nbformat": 4, "nbformat_minor": 5}'
    runner = CliRunner()
    echoed = runner.invoke(app, ["port", "-", "--stdin-filename", "n.ipynb"], input=notebook)
    assert echoed.exit_code == 0 and echoed.stdout == notebook  # not rewritten as Python
    assert "n.ipynb: a notebook: not ported" in echoed.stderr
    diff = runner.invoke(app, ["port", "-", "--stdin-filename", "n.ipynb", "--diff"], input=notebook)
    assert diff.exit_code == 0 and diff.stdout == ""


def test_json_and_sarif_carry_fix_edits_and_rule_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORTER_RULE_DOCS_URL", "https://docs.example.com/rules/{id}.html")
    original = "import torch\nx = torch.zeros(1).cuda()\n"
    write(tmp_path / "a.py", original)
    record = json.loads(lint("a.py", "--no-cache", "--output-format", "json").stdout)[0]
    assert record["url"] == "https://docs.example.com/rules/NRN101.html"
    edits = record["fix"]["edits"]
    assert edits and all({"content", "location", "end_location"} <= set(e) for e in edits)
    # the edits applied give porter port's result
    lines = original.splitlines(keepends=True)
    for e in sorted(edits, key=lambda e: e["location"]["row"], reverse=True):
        lines[e["location"]["row"] - 1:e["end_location"]["row"] - 1] = [e["content"]]
    ported = CliRunner().invoke(app, ["port", "-", "--unsafe-fixes"], input=original).stdout
    assert "".join(lines) == ported
    sarif = json.loads(lint("a.py", "--no-cache", "--output-format", "sarif").stdout)
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["helpUri"] == "https://docs.example.com/rules/NRN101.html"
    replacement = run["results"][0]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["deletedRegion"]["startLine"] == edits[0]["location"]["row"]


def _apply(original: str, edits: list[dict]) -> str:
    lines = original.splitlines(keepends=True)
    for e in sorted(edits, key=lambda e: e["location"]["row"], reverse=True):
        lines[e["location"]["row"] - 1:e["end_location"]["row"] - 1] = [e["content"]]
    return "".join(lines)


def test_a_safe_fix_never_carries_an_unsafe_change_on_its_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = "import torch\n\n\ndef f(x):\n    return x.cuda().half()\n"
    write(tmp_path / "a.py", original)
    records = {r["code"]: r for r in json.loads(lint("a.py", "--no-cache", "--output-format", "json").stdout)}
    safe, unsafe = records["NRN101"]["fix"], records["NRN206"]["fix"]
    assert (safe["applicability"], unsafe["applicability"]) == ("safe", "unsafe")
    runner = CliRunner()
    assert _apply(original, safe["edits"]) == runner.invoke(app, ["port", "-"], input=original).stdout
    assert ".half()" in _apply(original, safe["edits"])  # marked, not cast to bf16
    assert _apply(original, unsafe["edits"]) == runner.invoke(app, ["port", "-", "--unsafe-fixes"],
                                                              input=original).stdout


def test_fix_edits_count_lines_as_python_does(tmp_path, monkeypatch):
    # a form feed is not a line break (str.splitlines says it is); a last line may have no newline
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for original in ("import torch\n\x0c\nx = 1  # \x0c\ny = torch.zeros(1).cuda()\n",
                     "import torch\nx = torch.zeros(1).cuda()"):
        write(tmp_path / "a.py", original)
        record = json.loads(lint("a.py", "--no-cache", "--output-format", "json").stdout)[0]
        edits = record["fix"]["edits"]
        assert edits and record["location"]["row"] in {e["location"]["row"] for e in edits}, edits
        last = edits[-1]["end_location"]
        assert last["row"] <= len(re.findall("\n", original)) + 1  # never a line past the end
        lines = re.findall(r"[^\n]*\n|[^\n]+$", original)
        for e in sorted(edits, key=lambda e: e["location"]["row"], reverse=True):
            start, end = e["location"], e["end_location"]
            head = lines[start["row"] - 1][:start["column"] - 1] if start["row"] <= len(lines) else ""
            tail = lines[end["row"] - 1][end["column"] - 1:] if end["row"] <= len(lines) else ""
            lines[start["row"] - 1:end["row"]] = [head + e["content"] + tail]
        assert "".join(lines) == runner.invoke(app, ["port", "-"], input=original).stdout


def test_colour_only_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", "import torch\nx = torch.zeros(1).cuda()\n")
    plain = lint("a.py", "--no-cache")
    assert "\x1b[" not in plain.stdout  # not a terminal
    forced = lint("a.py", "--no-cache", env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert "\x1b[1;31mNRN101\x1b[0m" in forced.stdout
    assert "\x1b[" not in lint("a.py", "--no-cache", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout


def test_port_diff_in_colour_only_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", "import torch\nx = torch.zeros(1).cuda()\n")
    runner = CliRunner()
    plain = runner.invoke(app, ["port", "a.py", "--diff"], env={"NO_COLOR": "", "FORCE_COLOR": ""})
    assert plain.exit_code == 1 and "\x1b[" not in plain.stdout
    forced = runner.invoke(app, ["port", "a.py", "--diff"], env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[32m+x = torch.zeros(1).to(_porter_device())\x1b[0m\n" in forced.stdout
    assert "\x1b[31m-x = torch.zeros(1).cuda()\x1b[0m\n" in forced.stdout
    no_color = runner.invoke(app, ["port", "a.py", "--diff"], env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert "\x1b[" not in no_color.stdout


def test_errors_and_warnings_follow_no_color(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    on_a_terminal = runner.invoke(app, ["lint", "--output-format", "nope"], color=True, env={"NO_COLOR": ""})
    assert "\x1b[31mporter: error:" in on_a_terminal.stderr  # red on a terminal
    for argv in (["lint", "--output-format", "nope"], ["lint", "--no-cache", "empty"]):
        plain = runner.invoke(app, argv, color=True, env={"NO_COLOR": "1"})
        assert "\x1b[" not in plain.stderr and plain.stderr.strip(), (argv, plain.stderr)
