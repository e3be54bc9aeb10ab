"""`porter port` holds on hostile trees: symlink loops, FIFOs, huge files, deep nesting, notebooks
named alone, non-UTF-8 names, and the leftovers of a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from porter.cli import app

CUDA = "import torch\nx = torch.zeros(1).cuda()\n"
runner = CliRunner()


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_symlink_loops_are_skipped_by_out_without_a_traceback(tmp_path):
    src = _tree(tmp_path / "src", {"a.py": CUDA})
    os.symlink("self", src / "self")
    os.symlink("y.py", src / "x.py")
    os.symlink("x.py", src / "y.py")
    out = tmp_path / "out"
    result = runner.invoke(app, ["port", str(src), "--out", str(out), "--no-cache"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    assert "symlink loop, not copied" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.py"]
    assert "_porter_device()" in (out / "a.py").read_text()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_py_never_blocks_lint_or_port(tmp_path):
    src = _tree(tmp_path / "src", {"ok.py": CUDA})
    os.mkfifo(src / "pipe.py")
    script = (
        "import sys; from typer.testing import CliRunner; from porter.cli import app; r = CliRunner();"
        f"a = r.invoke(app, ['lint', '--no-cache', {str(src)!r}]);"
        f"b = r.invoke(app, ['port', '--no-cache', '--diff', {str(src / 'pipe.py')!r}]);"
        f"c = r.invoke(app, ['port', '--no-cache', {str(src)!r}, '--out', {str(tmp_path / 'out')!r}]);"
        "print(a.exit_code, b.exit_code, c.exit_code); print(a.stdout); print(b.stderr); print(c.stdout)"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    codes, *rest = proc.stdout.splitlines()
    text = "\n".join(rest)
    assert codes.split() == ["1", "1", "0"]
    assert "pipe.py:1:1: NRN005 a FIFO, not a regular file: not read" in text
    assert "pipe.py: a FIFO, not a regular file: not read" in text
    assert "pipe.py (a FIFO, not read)" in text
    assert not (tmp_path / "out" / "pipe.py").exists()


def test_a_file_over_the_size_limit_is_copied_not_ported(tmp_path):
    big = "import torch\n" + "x = torch.zeros(1).cuda()\n" * 420_000  # ~10.9 MB
    src = _tree(tmp_path / "src", {"big.py": big, "small.py": CUDA})
    out = tmp_path / "out"
    result = runner.invoke(app, ["port", str(src), "--out", str(out), "--no-cache"])
    assert result.exit_code == 1
    assert "big.py: file is 10.9 MB, over the 10 MiB limit; not ported (copied unchanged)" in result.stderr
    assert (out / "big.py").read_text() == big
    assert "_porter_device()" in (out / "small.py").read_text()


def test_deep_nesting_cpython_accepts_is_ported(tmp_path):
    nested = "f(" * 190 + "x.cuda()" + ")" * 190
    src = _tree(tmp_path / "src", {"deep.py": CUDA + f"y = {nested}\n"})
    result = runner.invoke(app, ["port", str(src / "deep.py"), "--diff", "--no-cache"])
    assert result.exit_code == 1, result.output  # a diff with changes
    assert "internal error" not in result.output
    assert "+y = " + "f(" * 190 + "x.to(_porter_device())" in result.stdout


def test_nesting_at_cpythons_limit_is_a_limit_not_an_internal_error(tmp_path):
    nested = "f(" * 199 + "x.cuda()" + ")" * 199  # parses; `.to(_porter_device())` would not
    src = _tree(tmp_path / "src", {"deep.py": CUDA + f"y = {nested}\n"})
    result = runner.invoke(app, ["port", str(src / "deep.py"), "--diff", "--no-cache"])
    assert "internal error" not in result.output
    assert "the fixes would nest deeper than Python allows (too many nested parentheses" in result.output


def test_a_notebook_named_alone_is_a_notebook(tmp_path):
    cell = {"cell_type": "code", "source": ["x = y.cuda()\n"], "metadata": {}, "outputs": [], "execution_count": None}
    notebook = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    src = _tree(tmp_path / "src", {"n.ipynb": notebook})
    out = tmp_path / "out"
    result = runner.invoke(app, ["port", str(src / "n.ipynb"), "--out", str(out), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "0 Python files scanned" in result.stdout
    assert "1 notebook not ported (copied unchanged)" in result.stdout
    assert (out / "n.ipynb").read_text() == notebook


@pytest.mark.skipif(sys.platform != "linux", reason="non-UTF-8 file names need a byte-name file system")
def test_a_non_utf8_file_name_is_printed_byte_for_byte(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.py")
    (folder / name).write_text(CUDA)
    for fmt in ("text", "sarif", "junit", "github", "json"):
        proc = subprocess.run([sys.executable, "-m", "porter", "lint", "--no-cache", "--output-format", fmt, "src"],
                              cwd=tmp_path, capture_output=True, timeout=60)
        assert proc.returncode == 1, (fmt, proc.stderr)
        if fmt == "text":
            assert b"src/caf\xe9.py:2:20: NRN101" in proc.stdout
        elif fmt == "sarif":
            assert b'"uri": "src/caf%E9.py"' in proc.stdout
        elif fmt == "json":
            assert json.loads(proc.stdout)[0]["filename"] == "src/" + name
        else:
            proc.stdout.decode("utf-8")  # XML and annotations stay valid UTF-8
            assert b"caf\\xe9.py" in proc.stdout


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_sigkill_leaves_no_workers_and_the_next_run_removes_its_temp_files(tmp_path):
    src = _tree(tmp_path / "src", {f"m{i}.py": CUDA + "y = x.cuda()\n" * 40 for i in range(80)})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "porter", "port", str(src), "--out", str(out), "--no-cache",
                             "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not workers:
        pytest.skip("the port finished before its workers could be seen")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers outlived their killed parent"

    for extra in sorted(src.glob("m*.py"))[3:]:  # a small tree is enough for what follows
        extra.unlink()
    # what a killed write leaves behind: a temp file beside its target, in the tree and in --out
    (src / ".m0.py.abcd_123.porter-tmp").write_text("half")
    out.mkdir(exist_ok=True)
    (out / ".m1.py.x1y2z3w4.porter-tmp").write_text("half")
    again = runner.invoke(app, ["port", str(src), "--out", str(out), "--force", "--no-cache"])
    assert again.exit_code == 0, again.output
    assert not list(out.glob("*.porter-tmp"))  # not copied, and the old one removed
    in_place = runner.invoke(app, ["port", str(src), "--in-place", "--force", "--no-cache"])
    assert in_place.exit_code == 0, in_place.output
    assert not list(src.glob("*.porter-tmp"))


def test_port_from_stdin_keeps_the_size_limit(monkeypatch):
    monkeypatch.setattr("porter.rewrite.commands.MAX_FILE_BYTES", 64)  # a small limit, a small input
    code = "import torch\n" + "x = torch.zeros(1).cuda()\n" * 5
    result = runner.invoke(app, ["port", "-"], input=code)
    assert result.exit_code == 1 and result.stdout == code  # unchanged, not ported
    assert result.stderr.startswith("-: file is 0.0 MB, over the ") and "limit; not ported" in result.stderr


def test_port_names_a_symlink_loop_given_alone(tmp_path):
    os.symlink("self.py", tmp_path / "self.py")
    result = runner.invoke(app, ["port", str(tmp_path / "self.py"), "--diff"])
    assert result.exit_code == 2 and "self.py: symlink loop" in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_port_diff_is_a_patch_git_applies(tmp_path, monkeypatch):
    # a form feed is not a line break and a last line may lack one: the diff still applies, and
    # applying it gives what --out writes
    files = {"ff.py": CUDA + "\x0c\nz = 1  # \x0c\ny = x.cuda()\n", "nonl.py": CUDA + "y = x.cuda()"}
    src = _tree(tmp_path / "src", files)
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    monkeypatch.chdir(src)
    diff = runner.invoke(app, ["port", ".", "--diff", "--no-cache"])
    assert diff.exit_code == 1, diff.output
    patch = tmp_path / "port.diff"
    patch.write_text(diff.stdout)
    applied = subprocess.run(["git", "apply", str(patch)], cwd=src, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    out = tmp_path / "out"
    runner.invoke(app, ["port", str(_tree(tmp_path / "again", files)), "--out", str(out), "--no-cache"])
    for name in files:
        assert (src / name).read_text() == (out / name).read_text(), name


def test_a_file_libcst_does_not_reproduce_is_reported_and_left_alone():
    from porter.rewrite.file_port import NOT_REPRODUCED, port_source
    from porter.source.catalogue import load_catalogue
    from porter.source.engine import RuleIndex

    catalogue = load_catalogue(())
    index = RuleIndex.build([r for r in catalogue if r.matchers and r.default])
    text = "import torch\nx = torch.ones(1).cuda()\n\n    # an indented comment closing the module\n"
    port = port_source(text, "m.py", index, catalogue, "neuron")
    assert port.error == NOT_REPRODUCED and port.ported == text and not port.changes


def test_out_naming_a_file_is_a_usage_error(tmp_path):
    src = _tree(tmp_path / "src", {"a.py": CUDA})
    (tmp_path / "afile").write_text("")
    result = runner.invoke(app, ["port", str(src), "--out", str(tmp_path / "afile")])
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_type_stub_is_never_rewritten(tmp_path):
    # a .pyi never runs: no device helper, no import guard, no device call belongs in it
    stub = "import torch\nimport triton\nDEV: str = \"cuda\"\ndef f(x: torch.Tensor) -> torch.Tensor: ...\n"
    src = _tree(tmp_path / "src", {"m.pyi": stub, "m.py": CUDA})
    out = tmp_path / "out"
    result = runner.invoke(app, ["port", str(src), "--out", str(out), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "1 type stub not ported (copied unchanged)" in result.stdout
    assert (out / "m.pyi").read_text() == stub and "_porter_device()" in (out / "m.py").read_text()
    assert runner.invoke(app, ["port", str(src / "m.pyi"), "--diff"]).stdout == ""
    linted = runner.invoke(app, ["lint", str(src / "m.pyi"), "--no-cache"])
    assert "NRN105" in linted.stdout and "[*]" not in linted.stdout  # found, but no fix promised


def test_a_fallback_import_in_an_import_error_handler_is_guarded_as_lint_promises(tmp_path, monkeypatch):
    # `except ImportError: from triton... import x` fails too when the package is absent: lint
    # gives it [*] (guard), so port guards it, and the ported file lints clean
    code = ("if True:\n    try:\n        from triton.runtime.cache import triton_key\n"
            "    except ImportError:\n        from triton.compiler.compiler import triton_key\n")
    src = _tree(tmp_path / "src", {"t.py": code})
    monkeypatch.chdir(src)
    assert "NRN406 [*]" in runner.invoke(app, ["lint", "t.py", "--no-cache"]).stdout
    assert runner.invoke(app, ["port", "t.py", "--in-place", "--force", "--no-cache"]).exit_code == 0
    ported = (src / "t.py").read_text()
    assert "        try:\n            from triton.compiler.compiler import triton_key\n" \
           "        except ImportError:  # CUDA-only package, absent here\n" in ported
    linted = runner.invoke(app, ["lint", "t.py", "--no-cache"])
    assert linted.exit_code == 0, linted.stdout
