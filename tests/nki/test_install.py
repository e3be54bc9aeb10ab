import subprocess
import sys
import textwrap

import porter.nki
from porter.nki import install


def _run(code: str, env_extra: dict | None = None, path: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    env.pop("PORTER_NKI_SIMULATE", None)
    env.update(env_extra or {})
    if path:
        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def _fake_nki(tmp_path, working: bool):
    pkg = tmp_path / "nki"
    pkg.mkdir()
    if working:
        (pkg / "__init__.py").write_text("REAL = True\n")
        (pkg / "language.py").write_text("sbuf = 'real'\n")
    else:  # the PyPI placeholder: raises on import
        (pkg / "__init__.py").write_text("raise ImportError('placeholder package; install the Neuron SDK')\n")
    return str(tmp_path)


def test_installed_in_this_session():
    import nki
    import nki.isa
    import nki.language

    assert getattr(nki, "IS_PORTER_SIMULATOR", False)
    assert nki.language.tile_size.pmax == 128 and nki.isa.nc_matmul
    assert porter.nki.install_simulator() is True  # idempotent


def test_never_shadows_a_working_real_nki(tmp_path):
    path = _fake_nki(tmp_path, working=True)
    r = _run(
        """
        import porter.nki, nki
        assert porter.nki.real_nki_available()
        assert porter.nki.install_simulator() is False
        import nki.language
        assert nki.REAL and nki.language.sbuf == 'real'
        print('ok')
        """,
        path=path,
    )
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_replaces_placeholder_package(tmp_path):
    path = _fake_nki(tmp_path, working=False)
    r = _run(
        """
        import porter.nki
        assert not porter.nki.real_nki_available()
        assert porter.nki.install_simulator() is True
        import nki, nki.language as nl, nki.isa as nisa, nki.typing as nt
        assert nki.IS_PORTER_SIMULATOR and nl.sbuf and nisa.dma_copy and nt.tensor[128, 512]
        print('ok')
        """,
        path=path,
    )
    assert r.returncode == 0, r.stderr


def test_env_var_and_force_override_real(tmp_path):
    path = _fake_nki(tmp_path, working=True)
    code = """
        import porter.nki
        assert porter.nki.install_simulator({arg}) is True
        import nki
        assert nki.IS_PORTER_SIMULATOR
        """
    assert _run(code.format(arg=""), {"PORTER_NKI_SIMULATE": "1"}, path).returncode == 0
    r = _run(code.format(arg="force=True"), path=path)
    assert r.returncode == 0, r.stderr


def test_no_nki_at_all():
    r = _run("import porter.nki; assert porter.nki.real_nki_available() is False; print('ok')")
    assert r.returncode == 0, r.stderr


def test_uninstall_and_reinstall():
    install.uninstall_simulator()
    assert "nki" not in sys.modules
    assert porter.nki.install_simulator() is True
    import nki

    assert nki.IS_PORTER_SIMULATOR
