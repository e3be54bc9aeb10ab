"""`[tool.porter]` in pyproject.toml: every key, nearest-config-wins, CLI overrides, errors."""

from __future__ import annotations

import pytest

from tests.lint.helpers import CUDA_CODE, FIXTURES, codes, findings, fixture, lint, write

MIXED = """\
import torch
torch.backends.cudnn.benchmark = True
x = torch.zeros(3).cuda()
torch.cuda.synchronize()
y = x.half()
"""


def project(root, config: str, files: dict[str, str] | None = None):
    write(root / "pyproject.toml", "[tool.porter]\n" + config)
    for name, text in (files or {"m.py": MIXED}).items():
        write(root / name, text)
    return root


def test_select(tmp_path):
    project(tmp_path, 'select = ["NRN12"]\n')
    assert codes(lint("m.py", "--no-cache")) == ["NRN123"]


def test_select_as_single_string(tmp_path):
    # _strings() accepts a bare string; selector validation must treat it as one selector too
    project(tmp_path, 'select = "NRN101"\n')
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 1, result.stderr
    assert codes(result) == ["NRN101"]


def test_ignore(tmp_path):
    project(tmp_path, 'ignore = ["NRN1"]\n')
    assert codes(lint("m.py", "--no-cache")) == ["NRN206"]


def test_extend_select_adds_to_select(tmp_path):
    project(tmp_path, 'select = ["NRN2"]\nextend-select = ["NRN101"]\n')
    assert codes(lint("m.py", "--no-cache")) == ["NRN101", "NRN206"]


def test_target(tmp_path):
    project(tmp_path, 'target = "portable"\n')
    result = lint("m.py", "--no-cache")
    assert codes(result) == ["NRN101", "NRN123"]
    assert "(target: portable)" in result.stdout


def test_per_file_ignores(tmp_path):
    project(tmp_path, 'per-file-ignores = { "tests/*" = ["NRN1"], "legacy.py" = ["NRN206"] }\n',
            {"tests/t.py": MIXED, "src/m.py": MIXED, "legacy.py": MIXED})
    result = lint(".", "--no-cache")
    by_file: dict[str, list[str]] = {}
    for location, code in findings(result):
        by_file.setdefault(location.split(":")[0], []).append(code)
    assert by_file == {
        "legacy.py": ["NRN150", "NRN101", "NRN123"],
        "src/m.py": ["NRN150", "NRN101", "NRN123", "NRN206"],
        "tests/t.py": ["NRN206"],
    }


def test_exclude_replaces_defaults(tmp_path):
    project(tmp_path, 'exclude = ["generated"]\n',
            {"generated/g.py": CUDA_CODE, "build/b.py": CUDA_CODE, "src/a.py": CUDA_CODE})
    result = lint(".", "--no-cache")
    # build/ is a default exclude, but `exclude` replaced the defaults
    assert [loc.split(":")[0] for loc, _ in findings(result)] == ["build/b.py", "src/a.py"]


def test_extend_exclude_adds_to_defaults(tmp_path):
    project(tmp_path, 'extend-exclude = ["third_party", "*_pb2.py"]\n',
            {"third_party/t.py": CUDA_CODE, "build/b.py": CUDA_CODE, "src/a.py": CUDA_CODE,
             "src/x_pb2.py": CUDA_CODE})
    result = lint(".", "--no-cache")
    assert [loc.split(":")[0] for loc, _ in findings(result)] == ["src/a.py"]


def test_exclude_by_relative_path_glob(tmp_path):
    project(tmp_path, 'extend-exclude = ["src/gen"]\n',
            {"src/gen/g.py": CUDA_CODE, "other/gen/g.py": CUDA_CODE})
    result = lint(".", "--no-cache")
    assert [loc.split(":")[0] for loc, _ in findings(result)] == ["other/gen/g.py"]


def test_cli_exclude_and_extend_exclude(tmp_path):
    for name in ("a/x.py", "b/x.py", "build/x.py"):
        write(tmp_path / name, CUDA_CODE)
    extend = lint(".", "--no-cache", "--extend-exclude", "a")
    assert [loc.split(":")[0] for loc, _ in findings(extend)] == ["b/x.py"]
    replace = lint(".", "--no-cache", "--exclude", "a")
    assert [loc.split(":")[0] for loc, _ in findings(replace)] == ["b/x.py", "build/x.py"]


def test_rule_paths_adds_a_user_rule(tmp_path):
    fixture("user_rules", tmp_path / "tools")
    project(tmp_path, 'rule-paths = ["tools/user_rules"]\n',
            {"m.py": "import torch\ntorch.cuda.frobnicate()\n"})
    result = lint("m.py", "--no-cache")
    assert findings(result) == [("m.py:2:1", "NRN901")]
    assert "custom rule: torch.cuda.frobnicate" in result.stdout
    # without the rule path the built-in catch-all reports it
    (tmp_path / "pyproject.toml").write_text("[tool.porter]\n")
    assert codes(lint("m.py", "--no-cache")) == ["NRN139"]


def test_rule_paths_single_file_and_selectable(tmp_path):
    fixture("user_rules/frobnicate.toml", tmp_path / "tools")
    project(tmp_path, 'rule-paths = ["tools/frobnicate.toml"]\nselect = ["NRN9"]\n',
            {"m.py": "import torch\ntorch.cuda.frobnicate()\nx = torch.zeros(1).cuda()\n"})
    assert codes(lint("m.py", "--no-cache")) == ["NRN901"]


def test_project_rule_selectable_from_outside_the_project(tmp_path, monkeypatch):
    # --select is checked against every catalogue the linted files bring, not only the cwd's
    fixture("user_rules/frobnicate.toml", tmp_path / "proj" / "tools")
    write(tmp_path / "proj" / "pyproject.toml", '[tool.porter]\nrule-paths = ["tools/frobnicate.toml"]\n')
    write(tmp_path / "proj" / "m.py", "import torch\ntorch.cuda.frobnicate()\nx = torch.zeros(1).cuda()\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert codes(lint(tmp_path / "proj" / "m.py", "--no-cache", "--select", "NRN901")) == ["NRN901"]
    assert lint(tmp_path / "proj" / "m.py", "--no-cache", "--select", "NRN998").exit_code == 2


def test_malformed_rule_file_names_the_file(tmp_path):
    write(tmp_path / "tools" / "bad.toml", '[[rule]]\nid = "NRN902"\nname = "x"\n')
    project(tmp_path, 'rule-paths = ["tools"]\n')
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2
    assert "bad.toml" in result.stderr
    assert "NRN902" in result.stderr


def test_invalid_toml_rule_file_names_the_file(tmp_path):
    write(tmp_path / "tools" / "broken.toml", "[[rule]\nid = \n")
    project(tmp_path, 'rule-paths = ["tools/broken.toml"]\n')
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2
    assert "broken.toml" in result.stderr and "not valid TOML" in result.stderr


def test_missing_rule_path_is_an_error(tmp_path):
    project(tmp_path, 'rule-paths = ["nowhere"]\n')
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


def test_user_rule_clashing_with_builtin_id(tmp_path):
    text = (FIXTURES / "user_rules" / "frobnicate.toml").read_text().replace("NRN901", "NRN101")
    write(tmp_path / "tools" / "dup.toml", text)
    project(tmp_path, 'rule-paths = ["tools/dup.toml"]\n')
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2
    assert "dup.toml" in result.stderr and "NRN101" in result.stderr


def test_nearest_pyproject_wins(tmp_path):
    project(tmp_path, 'ignore = ["NRN101"]\n', {"m.py": MIXED, "sub/m.py": MIXED, "sub/deeper/m.py": MIXED})
    write(tmp_path / "sub" / "pyproject.toml", '[tool.porter]\nselect = ["NRN2"]\n')
    result = lint(".", "--no-cache")
    by_file: dict[str, list[str]] = {}
    for location, code in findings(result):
        by_file.setdefault(location.split(":")[0], []).append(code)
    assert by_file == {
        "m.py": ["NRN150", "NRN123", "NRN206"],
        "sub/m.py": ["NRN206"],
        "sub/deeper/m.py": ["NRN206"],
    }


def test_pyproject_without_tool_porter_is_passed_over(tmp_path):
    project(tmp_path, 'select = ["NRN101"]\n', {"sub/m.py": MIXED})
    write(tmp_path / "sub" / "pyproject.toml", '[project]\nname = "x"\n')
    assert codes(lint("sub/m.py", "--no-cache")) == ["NRN101"]


def test_nested_project_target(tmp_path):
    project(tmp_path, "", {"sample.py": MIXED, "portable/sample.py": MIXED})
    write(tmp_path / "portable" / "pyproject.toml", '[tool.porter]\ntarget = "portable"\n')
    result = lint(".", "--no-cache")
    assert [c for loc, c in findings(result) if loc.startswith("portable/")] == ["NRN101", "NRN123"]
    assert [c for loc, c in findings(result) if loc.startswith("sample.py")] == [
        "NRN150", "NRN101", "NRN123", "NRN206"]


def test_config_found_for_file_outside_cwd(tmp_path, monkeypatch):
    project(tmp_path / "proj", 'select = ["NRN123"]\n')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert codes(lint(tmp_path / "proj" / "m.py", "--no-cache")) == ["NRN123"]


def test_cli_overrides_config(tmp_path):
    project(tmp_path, 'select = ["NRN101"]\ntarget = "portable"\n')
    assert codes(lint("m.py", "--no-cache")) == ["NRN101"]
    assert codes(lint("m.py", "--no-cache", "--select", "NRN2")) == []  # portable: NRN206 off
    assert codes(lint("m.py", "--no-cache", "--select", "NRN2", "--target", "neuron")) == ["NRN206"]
    assert codes(lint("m.py", "--no-cache", "--extend-select", "NRN123")) == ["NRN101", "NRN123"]
    assert codes(lint("m.py", "--no-cache", "--ignore", "NRN101")) == []


def test_cli_ignore_adds_to_config_ignore(tmp_path):
    project(tmp_path, 'ignore = ["NRN150"]\n')
    assert codes(lint("m.py", "--no-cache", "--ignore", "NRN206")) == ["NRN101", "NRN123"]


def test_cli_select_starts_afresh_like_ruff(tmp_path):
    # a command-line --select drops the config's ignore and extend-select
    project(tmp_path, 'ignore = ["NRN1"]\nextend-select = ["NRN150"]\n')
    assert codes(lint("m.py", "--no-cache")) == ["NRN150", "NRN206"]
    assert codes(lint("m.py", "--no-cache", "--select", "NRN12")) == ["NRN123"]
    assert codes(lint("m.py", "--no-cache", "--select", "NRN1", "--ignore", "NRN15")) == ["NRN101", "NRN123"]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ("target = 3\n", "target"),
        ('target = "gpu"\n', "target"),
        ("select = [1, 2]\n", "select"),
        ('ignore = {a = "b"}\n', "ignore"),
        ('extend-exclude = 5\n', "extend-exclude"),
        ('per-file-ignores = ["x"]\n', "per-file-ignores"),
        ('per-file-ignores = { "x/*" = 3 }\n', "per-file-ignores"),
        ('rule-paths = 1\n', "rule-paths"),
        ('select = ["NRN999"]\n', "select"),
        ('ignore = ["XYZ"]\n', "ignore"),
        ('colour = "red"\n', "colour"),
    ],
)
def test_invalid_config_value_names_file_and_key(tmp_path, config, key):
    project(tmp_path, config)
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2, result.output
    assert str(tmp_path / "pyproject.toml") in result.stderr
    assert key in result.stderr
    assert result.stdout == ""


def test_invalid_toml_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.porter\n")
    write(tmp_path / "m.py", MIXED)
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2
    assert "pyproject.toml" in result.stderr and "not valid TOML" in result.stderr


def test_tool_porter_not_a_table(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool]\nporter = "yes"\n')
    write(tmp_path / "m.py", MIXED)
    result = lint("m.py", "--no-cache")
    assert result.exit_code == 2
    assert "[tool.porter] must be a table" in result.stderr


def test_invalid_nested_config_is_reported_too(tmp_path):
    project(tmp_path, "", {"m.py": MIXED, "sub/m.py": MIXED})
    write(tmp_path / "sub" / "pyproject.toml", '[tool.porter]\ntarget = "gpu"\n')
    result = lint(".", "--no-cache")
    assert result.exit_code == 2
    assert str(tmp_path / "sub" / "pyproject.toml") in result.stderr


PY2 = "import torch\nprint torch.cuda.is_available()\n"


def test_ignoring_a_diagnostic_in_config(tmp_path):
    project(tmp_path, 'ignore = ["NRN001"]\n', {"py2.py": PY2, "m.py": CUDA_CODE})
    result = lint(".", "--no-cache")
    assert findings(result) == [("m.py:2:20", "NRN101")]


def test_diagnostic_ignore_follows_the_nearest_config(tmp_path):
    # the root config ignores NRN001; sub/ has its own [tool.porter] that does not
    project(tmp_path, 'ignore = ["NRN001"]\n', {"py2.py": PY2, "sub/py2.py": PY2})
    write(tmp_path / "sub" / "pyproject.toml", "[tool.porter]\n")
    result = lint(".", "--no-cache")
    assert findings(result) == [("sub/py2.py:2:1", "NRN001")]


def test_cli_ignore_of_a_diagnostic(tmp_path):
    write(tmp_path / "py2.py", PY2)
    result = lint("py2.py", "missing.py", "--no-cache", "--ignore", "NRN001,NRN005")
    assert result.exit_code == 0
    assert findings(result) == []
