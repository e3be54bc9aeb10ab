"""`porter nki upgrade`: modes, exit codes, safety (porter port's contract), --verify."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from porter.cli import app

runner = CliRunner()

LEGACY = textwrap.dedent('''\
    # -*- coding: latin-1 -*-
    """Kernel with a latin-1 comment: caf\xe9."""
    import numpy as np
    import neuronxcc.nki as nki
    import neuronxcc.nki.language as nl


    @nki.jit
    def double(a):
        out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
        ix = nl.arange(128)[:, None]
        iy = nl.arange(a.shape[1])[None, :]
        for i in nl.affine_range(a.shape[0] // 128):
            t = nl.load(a[i * 128 + ix, iy])
            nl.store(out[i * 128 + ix, iy], value=t + t)
        return out


    if __name__ == "__main__":
        x = np.arange(256 * 4, dtype=np.float32).reshape(256, 4)
        assert np.allclose(nki.simulate_kernel(double, x), 2 * x)
''')

REFERENCE = textwrap.dedent('''\
    import numpy as np

    RTOL, ATOL = 1e-6, 0.0

    def inputs_double():
        return (np.linspace(-1, 1, 128 * 8, dtype=np.float32).reshape(128, 8),)

    def reference_double(a):
        return 2 * a
''')


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "kernels"
    root.mkdir()
    (root / "k.py").write_bytes(LEGACY.encode("latin-1"))
    (root / "notes.txt").write_text("not python")
    (root / "other.py").write_text("x = 1\n")
    return root


def test_diff_writes_nothing_and_exits_1(tmp_path):
    root = _tree(tmp_path)
    before = (root / "k.py").read_bytes()
    result = runner.invoke(app, ["nki", "upgrade", str(root), "--diff"])
    assert result.exit_code == 1, result.output
    assert "+import nki.language as nl" in result.stdout and "-import neuronxcc.nki as nki" in result.stdout
    assert (root / "k.py").read_bytes() == before


def test_check_exit_codes(tmp_path):
    root = _tree(tmp_path)
    assert runner.invoke(app, ["nki", "upgrade", str(root), "--check"]).exit_code == 1
    clean = tmp_path / "clean.py"
    clean.write_text("import nki\n")
    result = runner.invoke(app, ["nki", "upgrade", str(clean), "--check"])
    assert result.exit_code == 0 and "0 would change" in result.stdout


def test_out_copies_the_tree_and_keeps_the_encoding(tmp_path):
    root = _tree(tmp_path)
    out = tmp_path / "up"
    result = runner.invoke(app, ["nki", "upgrade", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = (out / "k.py").read_bytes()
    assert "caf\xe9".encode("latin-1") in data and b"neuronxcc" not in data
    assert (out / "notes.txt").read_text() == "not python" and (out / "other.py").exists()
    assert runner.invoke(app, ["nki", "upgrade", str(root), "--out", str(out)]).exit_code == 2  # not empty
    assert runner.invoke(app, ["nki", "upgrade", str(root), "--out", str(root / "x")]).exit_code == 2  # inside


def test_usage_errors_exit_2(tmp_path):
    root = _tree(tmp_path)
    assert runner.invoke(app, ["nki", "upgrade", str(root)]).exit_code == 2
    assert runner.invoke(app, ["nki", "upgrade", str(root), "--diff", "--check"]).exit_code == 2
    assert runner.invoke(app, ["nki", "upgrade", str(root), "--check", "--to", "0.5"]).exit_code == 2
    assert runner.invoke(app, ["nki", "upgrade", str(tmp_path / "missing"), "--check"]).exit_code == 2


def test_in_place_refuses_a_dirty_git_tree(tmp_path):
    root = _tree(tmp_path)
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    result = runner.invoke(app, ["nki", "upgrade", str(root), "--in-place"])
    assert result.exit_code == 2 and "uncommitted changes" in result.output
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    result = runner.invoke(app, ["nki", "upgrade", str(root), "--in-place"])
    assert result.exit_code == 0, result.output
    assert b"import nki.language as nl" in (root / "k.py").read_bytes()


def test_syntax_error_is_a_problem_and_the_file_is_untouched(tmp_path):
    (tmp_path / "src").mkdir()
    bad = tmp_path / "src" / "bad.py"
    bad.write_text("import neuronxcc.nki as nki\nprint 'x'\n")
    out = tmp_path / "o"
    result = runner.invoke(app, ["nki", "upgrade", str(bad), "--out", str(out)])
    assert result.exit_code == 1 and "syntax error" in result.output
    assert (out / "bad.py").read_text() == bad.read_text()


def test_verify_with_a_numpy_reference_and_with_the_files_own_main(tmp_path):
    root = _tree(tmp_path)
    ref = tmp_path / "ref.py"
    ref.write_text(REFERENCE)
    result = runner.invoke(app, ["nki", "upgrade", str(root / "k.py"), "--check", "--verify", "--reference", str(ref)])
    assert "verify" in result.stdout and "double: match" in result.stdout, result.output
    assert result.exit_code == 1  # --check still reports the change
    result = runner.invoke(app, ["nki", "upgrade", str(root), "--out", str(tmp_path / "o"), "--verify"])
    assert result.exit_code == 0 and "k.py (__main__): match" in result.stdout, result.output
    ref.write_text(REFERENCE.replace("2 * a", "3 * a"))
    result = runner.invoke(app, ["nki", "upgrade", str(root / "k.py"), "--diff", "--verify", "--reference", str(ref)])
    assert "double: mismatch" in result.stdout and result.exit_code == 1


def test_upgrade_is_static_no_torch_no_nki_import(tmp_path):
    root = _tree(tmp_path)
    probe = textwrap.dedent(f'''
        import json, sys
        from typer.testing import CliRunner
        from porter.cli import app
        result = CliRunner().invoke(app, ["nki", "upgrade", {str(root)!r}, "--check"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "nki", "numpy"))
        print(json.dumps({{"code": result.exit_code, "heavy": heavy}}))
    ''')
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data == {"code": 1, "heavy": []}


SPMD = textwrap.dedent('''\
    import neuronxcc.nki as nki
    import neuronxcc.nki.language as nl


    @nki.jit
    def add_tiles(a, b):
        c = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
        i = nl.program_id(0)
        j = nl.program_id(1)
        ip, jf = nl.mgrid[0:128, 0:64]
        at = nl.load(a[i * 128 + ip, j * 64 + jf])
        bt = nl.load(b[i * 128 + ip, j * 64 + jf])
        nl.store(c[i * 128 + ip, j * 64 + jf], value=nl.add(at, bt))
        return c
''')

SPMD_REFERENCE = textwrap.dedent('''\
    import numpy as np

    def inputs_add_tiles():
        rng = np.random.default_rng(0)
        return rng.random((256, 192), dtype=np.float32), rng.random((256, 192), dtype=np.float32)

    def grid_add_tiles(a, b):
        return a.shape[0] // 128, a.shape[1] // 64

    def reference_add_tiles(a, b):
        return a + b
''')


def _spmd(tmp_path: Path, reference: str) -> tuple[Path, Path]:
    (tmp_path / "k").mkdir()
    kernel, ref = tmp_path / "k" / "spmd.py", tmp_path / "ref_spmd.py"
    kernel.write_text(SPMD)
    ref.write_text(reference)
    return kernel, ref


def test_verify_launches_on_the_grid_the_reference_gives(tmp_path):
    kernel, ref = _spmd(tmp_path, SPMD_REFERENCE)
    result = runner.invoke(app, ["nki", "upgrade", str(kernel), "--out", str(tmp_path / "o"), "--verify",
                                 "--reference", str(ref)])
    assert result.exit_code == 0, result.output
    assert "spmd.py add_tiles[2, 3]: match max|err|=0" in result.stdout, result.output


def test_verify_grid_option_and_its_usage_errors(tmp_path):
    no_grid = SPMD_REFERENCE.replace("def grid_add_tiles", "def _unused")
    kernel, ref = _spmd(tmp_path, no_grid)
    base = ["nki", "upgrade", str(kernel), "--check", "--verify", "--reference", str(ref)]
    result = runner.invoke(app, [*base, "--grid", "2,3"])
    assert "add_tiles[2, 3]: match" in result.stdout, result.output
    result = runner.invoke(app, [*base, "--grid", "1,1"])  # one instance of six: the rest of c is unwritten
    assert "add_tiles[1, 1]: mismatch max|err|=nan" in result.stdout, result.output  # unwritten: NaN
    # no grid: the SPMD kernel cannot run, and the message says how to give one
    result = runner.invoke(app, base)
    assert "add_tiles: error" in result.stdout and "grid_add_tiles(*inputs)" in result.stdout, result.output
    assert "--grid" in result.stdout and result.exit_code == 1
    for bad in ("2,0", "two", "2,,3", ""):
        result = runner.invoke(app, [*base, "--grid", bad])
        assert result.exit_code == 2 and "--grid" in result.output, (bad, result.output)
    result = runner.invoke(app, ["nki", "upgrade", str(kernel), "--check", "--verify", "--grid", "2,3"])
    assert result.exit_code == 2 and "--reference" in result.output


def test_verify_grid_option_wins_over_the_reference(tmp_path):
    kernel, ref = _spmd(tmp_path, SPMD_REFERENCE)
    result = runner.invoke(app, ["nki", "upgrade", str(kernel), "--check", "--verify", "--reference", str(ref),
                                 "--grid", "2, 2"])
    assert "add_tiles[2, 2]: mismatch" in result.stdout, result.output
