"""The lint cache: reused when nothing changed, invalidated by edits to files or to the catalogue."""

from __future__ import annotations

import json
import os

import pytest

import porter.source.runner as runner
from tests.lint.helpers import CUDA_CODE, codes, findings, fixture, lint, write


@pytest.fixture
def analysed(monkeypatch):
    """The paths analyse_bytes is called for (runs below the parallel threshold stay in-process)."""
    calls: list[str] = []
    real = runner.analyse_bytes

    def spy(data, path, index):
        calls.append(path)
        return real(data, path, index)

    monkeypatch.setattr(runner, "analyse_bytes", spy)
    return calls


@pytest.fixture
def proj(tmp_path):
    write(tmp_path / "pyproject.toml", "[project]\nname = 'demo'\n")
    write(tmp_path / "src" / "a.py", CUDA_CODE)
    write(tmp_path / "src" / "b.py", "import torch\ntorch.cuda.synchronize()\n")
    return tmp_path


def test_second_run_uses_the_cache(proj, analysed):
    first = lint("src")
    assert sorted(analysed) == ["src/a.py", "src/b.py"]
    cache_dir = proj / ".porter_cache"
    assert cache_dir.is_dir()
    assert list(cache_dir.glob("lint-*.json"))
    assert (cache_dir / ".gitignore").read_text().strip().endswith("*")
    analysed.clear()
    second = lint("src")
    assert analysed == []
    assert second.exit_code == first.exit_code == 1
    assert second.stdout == first.stdout
    assert codes(second) == ["NRN101", "NRN123"]


def test_cached_json_report_identical(proj):
    first = lint("src", "--output-format", "json")
    second = lint("src", "--output-format", "json")
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert len(json.loads(first.stdout)) == 2


def test_cache_lives_in_the_project_root(proj, monkeypatch):
    monkeypatch.chdir(proj / "src")
    lint("a.py")
    assert (proj / ".porter_cache").is_dir()
    assert not (proj / "src" / ".porter_cache").exists()


def test_cache_paths_relocated_when_invoked_differently(proj, analysed):
    lint("src")
    analysed.clear()
    result = lint(proj / "src" / "a.py")
    assert analysed == []
    assert result.stdout.startswith(f"{proj}/src/a.py:2:20: NRN101")


def test_editing_a_file_invalidates(proj, analysed):
    assert codes(lint("src")) == ["NRN101", "NRN123"]
    analysed.clear()
    write(proj / "src" / "a.py", "import torch\nx = 1\n")
    result = lint("src")
    assert analysed == ["src/a.py"]
    assert codes(result) == ["NRN123"]
    assert result.exit_code == 1


def test_same_size_edit_with_new_mtime_invalidates(proj, analysed):
    a = proj / "src" / "a.py"
    lint("src")
    before = a.stat()
    a.write_text(CUDA_CODE.replace(".cuda()", ".half()"))  # same length
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert a.stat().st_size == before.st_size
    analysed.clear()
    result = lint("src")
    assert analysed == ["src/a.py"]
    assert codes(result) == ["NRN206", "NRN123"]


def test_editing_a_user_rule_file_invalidates(tmp_path, analysed):
    rules = fixture("user_rules/frobnicate.toml", tmp_path / "tools")
    write(tmp_path / "pyproject.toml", '[tool.porter]\nrule-paths = ["tools/frobnicate.toml"]\n')
    write(tmp_path / "m.py", "import torch\ntorch.cuda.frobnicate()\n")
    assert "custom rule: torch.cuda.frobnicate" in lint("m.py").stdout
    analysed.clear()
    assert "custom rule" in lint("m.py").stdout
    assert analysed == []  # unchanged: cached
    rules.write_text(rules.read_text().replace("custom rule: {name}", "edited rule: {name}"))
    result = lint("m.py")
    assert analysed == ["m.py"]
    assert "edited rule: torch.cuda.frobnicate" in result.stdout
    assert "custom rule" not in result.stdout


def test_changing_selection_uses_another_cache(proj, analysed):
    lint("src")
    analysed.clear()
    assert codes(lint("src", "--select", "NRN123")) == ["NRN123"]
    assert sorted(analysed) == ["src/a.py", "src/b.py"]
    analysed.clear()
    assert codes(lint("src")) == ["NRN101", "NRN123"]
    assert analysed == []


def test_changing_target_uses_another_cache(proj, analysed):
    write(proj / "src" / "c.py", "import torch\ntorch.backends.cudnn.benchmark = True\n")
    assert "NRN150" in codes(lint("src"))
    analysed.clear()
    assert "NRN150" not in codes(lint("src", "--target", "portable"))
    assert len(analysed) == 3


def test_per_file_ignores_change_applies_to_cached_results(proj):
    assert codes(lint("src")) == ["NRN101", "NRN123"]
    (proj / "pyproject.toml").write_text('[tool.porter]\nper-file-ignores = { "src/a.py" = ["NRN101"] }\n')
    assert codes(lint("src")) == ["NRN123"]


def test_suppressions_survive_the_cache(proj):
    write(proj / "src" / "a.py", "import torch\nx = torch.zeros(1).cuda()  # noqa: NRN101\n")
    assert codes(lint("src")) == ["NRN123"]
    assert codes(lint("src")) == ["NRN123"]


def test_no_cache_writes_nothing(proj, analysed):
    lint("src", "--no-cache")
    assert not (proj / ".porter_cache").exists()
    lint("src", "--no-cache")
    assert len(analysed) == 4  # and reads nothing either


def test_no_cache_environment_variable(proj):
    lint("src", env={"PORTER_NO_CACHE": "1"})
    assert not (proj / ".porter_cache").exists()


def test_cache_dir_option(proj, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cache") / "c"
    lint("src", "--cache-dir", elsewhere)
    assert list(elsewhere.glob("lint-*.json"))
    assert not (proj / ".porter_cache").exists()


def test_cache_dir_environment_variable(proj, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cache") / "env"
    lint("src", env={"PORTER_CACHE_DIR": str(elsewhere)})
    assert list(elsewhere.glob("lint-*.json"))


@pytest.mark.parametrize(
    "damage",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"%(a)s": 5}',
        '{"%(a)s": [%(size)d, %(mtime)d, "x", [{"bogus": 1}]]}',
        '{"%(a)s": [%(size)d, %(mtime)d, "x", [1, 2]]}',
        '{"%(a)s": [%(size)d]}',
    ],
)
def test_damaged_cache_is_ignored(proj, damage):
    lint("src")
    a = proj / "src" / "a.py"
    stat = a.stat()
    text = damage % {"a": str(a), "size": stat.st_size, "mtime": stat.st_mtime_ns}
    files = list((proj / ".porter_cache").glob("lint-*.json"))
    assert files
    for path in files:
        path.write_text(text)
    result = lint("src")
    assert result.exit_code == 1, result.output
    assert codes(result) == ["NRN101", "NRN123"]


def test_unwritable_cache_dir_does_not_fail_the_run(proj):
    (proj / "blocker").write_text("a file, not a folder")
    result = lint("src", "--cache-dir", proj / "blocker" / "cache")
    assert result.exit_code == 1
    assert codes(result) == ["NRN101", "NRN123"]



def test_extension_declarations_are_remembered_and_follow_edits(tmp_path, monkeypatch):
    import porter.source.extensions as extensions

    setup = 'from torch.utils.cpp_extension import CUDAExtension\next = CUDAExtension("fused_a", ["a.cu"])\n'
    write(tmp_path / "setup.py", setup)
    write(tmp_path / "model.py", "import fused_a\nimport fused_b\n")
    parsed: list[int] = []
    real = extensions.extension_modules_in
    monkeypatch.setattr(extensions, "extension_modules_in", lambda text: parsed.append(1) or real(text))

    def extension_imports():
        return [loc for loc, _ in findings(lint(".", "--select", "NRN408")) if loc.startswith("model.py")]

    assert extension_imports() == ["model.py:1:1"]
    assert extension_imports() == ["model.py:1:1"]
    assert len(parsed) == 1  # the unchanged setup.py was not parsed again
    write(tmp_path / "setup.py", setup.replace("fused_a", "fused_b") + "# edited\n")
    assert extension_imports() == ["model.py:2:1"]


def test_cache_is_keyed_by_porter_source_files(tmp_path, monkeypatch, analysed):
    # an edited porter (a development checkout, an editable install) never reuses older results
    import porter.source.cache as cache

    write(tmp_path / "a.py", CUDA_CODE)
    lint(".")
    lint(".")
    assert analysed == ["a.py"]  # the second run was a cache hit
    signature = cache._code_signature()
    monkeypatch.setattr(cache, "_code_signature", lambda: signature + "-edited")
    lint(".")
    assert analysed == ["a.py", "a.py"]
