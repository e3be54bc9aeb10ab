import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf


def _mm(st, mv, accumulate=None, repeat=1, dst_dtype=nl.float32, **kw):
    def k(a, b):
        s, m = sbuf(a), sbuf(b)
        p = nl.ndarray((a.shape[1], b.shape[1]), dst_dtype, buffer=nl.psum)
        for _ in range(repeat):
            nisa.nc_matmul(p, s, m, accumulate=accumulate, **kw)
        return out(p)

    return run(k, st, mv)


def test_nc_matmul_numerics():
    a, b = rand(128, 64), rand(128, 512, seed=1)
    np.testing.assert_allclose(_mm(a, b), a.T @ b, rtol=1e-4, atol=1e-4)


def test_nc_matmul_accumulate_modes():
    a, b = rand(32, 16), rand(32, 8, seed=1)
    np.testing.assert_allclose(_mm(a, b, repeat=3), 3 * (a.T @ b), rtol=1e-4, atol=1e-4)  # auto
    np.testing.assert_allclose(_mm(a, b, accumulate=False, repeat=3), a.T @ b, rtol=1e-4, atol=1e-4)


def test_nc_matmul_accumulate_true_on_uninitialised_psum_is_nan():
    assert np.isnan(_mm(rand(8, 8), rand(8, 8), accumulate=True)).all()


def test_nc_matmul_group_closes_after_eviction():
    def k(a, b):
        s, m = sbuf(a), sbuf(b)
        p = nl.ndarray((8, 8), nl.float32, buffer=nl.psum)
        res = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        for _ in range(2):  # reused PSUM tile: each outer iteration starts a new group
            nisa.nc_matmul(p, s, m)
            nisa.nc_matmul(p, s, m)
            nisa.tensor_copy(res, p)
        return out(res)

    a, b = rand(8, 8), rand(8, 8, seed=2)
    np.testing.assert_allclose(run(k, a, b), 2 * a.T @ b, rtol=1e-5, atol=1e-5)


def test_nc_matmul_bf16_inputs_fp32_accumulation():
    a, b = rand(128, 32), rand(128, 64, seed=3)

    def k(x, y):
        s, m = sbuf(x, nl.bfloat16), sbuf(y, nl.bfloat16)
        p = nl.ndarray((32, 64), nl.float32, buffer=nl.psum)
        nisa.nc_matmul(p, s, m)
        return out(p)

    import ml_dtypes

    ref = a.astype(ml_dtypes.bfloat16).astype(np.float32).T @ b.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_allclose(run(k, a, b), ref, rtol=1e-5, atol=1e-4)


def test_nc_matmul_moving_free_limit():
    with pytest.raises(NkiValidationError, match="nc_matmul: moving free size 1024 exceeds 512"):

        def k(a, b):
            p = nl.ndarray((8, 1024), nl.float32, buffer=nl.psum)
            nisa.nc_matmul(p, sbuf(a), sbuf(b))

        run(k, rand(16, 8), rand(16, 1024))


def test_nc_matmul_moving_free_trn3(monkeypatch):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn3")
    a, b = rand(16, 8), rand(16, 1024)
    np.testing.assert_allclose(_mm(a, b), a.T @ b, rtol=1e-4, atol=1e-4)


def test_nc_matmul_stationary_free_limit():
    def k(a, b):
        p = nl.ndarray((128, 8), nl.float32, buffer=nl.psum)
        nisa.nc_matmul(p, sbuf(a), sbuf(b))

    with pytest.raises(NkiValidationError, match="nc_matmul: stationary free size 129 exceeds 128"):
        run(k, rand(8, 129), rand(8, 8))


def test_nc_matmul_buffers_and_dtypes():
    def wrong_dst(a, b):
        d = nl.ndarray((4, 4), nl.float32, buffer=nl.sbuf)
        nisa.nc_matmul(d, sbuf(a), sbuf(b))

    with pytest.raises(NkiValidationError, match="nc_matmul: dst must be in PSUM"):
        run(wrong_dst, rand(4, 4), rand(4, 4))

    def mixed(a, b):
        d = nl.ndarray((4, 4), nl.float32, buffer=nl.psum)
        nisa.nc_matmul(d, sbuf(a), sbuf(b, nl.bfloat16))

    with pytest.raises(NkiValidationError, match="both must be"):
        run(mixed, rand(4, 4), rand(4, 4))
    with pytest.raises(NkiValidationError, match="dst must be float32"):
        _mm(rand(4, 4), rand(4, 4), dst_dtype=nl.bfloat16)

    def partitions(a, b):
        d = nl.ndarray((4, 4), nl.float32, buffer=nl.psum)
        nisa.nc_matmul(d, sbuf(a), sbuf(b))

    with pytest.raises(NkiValidationError, match="does not match moving partition size"):
        run(partitions, rand(8, 4), rand(4, 4))


def test_nc_matmul_tiling_and_perf_mode(monkeypatch):
    a, b = rand(64, 32), rand(64, 16)
    np.testing.assert_allclose(_mm(a, b, tile_position=(64, 0), tile_size=(64, 128)), a.T @ b, rtol=1e-4, atol=1e-4)
    with pytest.raises(NkiValidationError, match="exceeds 32"):
        _mm(a, b, tile_position=(0, 0), tile_size=(32, 128))
    with pytest.raises(NkiValidationError, match="must both be set"):
        _mm(a, b, tile_position=(0, 0))

    def double(x, y):
        s = sbuf(x, nl.float8_e4m3).reshape((64, 2, 4))
        m = sbuf(y, nl.float8_e5m2).reshape((64, 2, 8))
        p = nl.ndarray((4, 8), nl.float32, buffer=nl.psum)
        nisa.nc_matmul(p, s, m, perf_mode=nisa.matmul_perf_mode.double_row)
        return out(p)

    x, y = rand(64, 8), rand(64, 16)
    import ml_dtypes

    xs = x.astype(ml_dtypes.float8_e4m3).astype(np.float32).reshape(128, 4)
    ys = y.astype(ml_dtypes.float8_e5m2).astype(np.float32).reshape(128, 8)
    np.testing.assert_allclose(run(double, x, y), xs.T @ ys, rtol=1e-5, atol=1e-4)
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn1")
    with pytest.raises(NkiValidationError, match="NeuronCore-v3"):
        run(double, x, y)


@pytest.mark.parametrize("engine", [nisa.engine.tensor, nisa.engine.vector, nisa.engine.unknown])
def test_nc_transpose(engine):
    x = rand(32, 16)

    def k(a):
        t = sbuf(a)
        d = nl.ndarray((16, 32), nl.float32, buffer=nl.sbuf if engine == nisa.engine.vector else nl.psum)
        nisa.nc_transpose(d, t, engine=engine)
        return out(d)

    np.testing.assert_array_equal(run(k, x), x.T)


def test_nc_transpose_limits():
    def vec(a):
        d = nl.ndarray((64, 64), nl.float32, buffer=nl.sbuf)
        nisa.nc_transpose(d, sbuf(a), engine=nisa.engine.vector)

    with pytest.raises(NkiValidationError, match=r"VectorE transpose handles up to \[32, 32\]"):
        run(vec, rand(64, 64))

    def dtype(a):
        d = nl.ndarray((4, 4), nl.bfloat16, buffer=nl.psum)
        nisa.nc_transpose(d, sbuf(a))

    with pytest.raises(NkiValidationError, match="must equal data dtype"):
        run(dtype, rand(4, 4))

    def big(a):
        d = nl.ndarray((128, 2, 100), nl.float32, buffer=nl.psum)
        nisa.nc_transpose(d, sbuf(a))

    with pytest.raises(NkiValidationError):
        run(big, rand(100, 256))


def test_nc_transpose_flattens_free_axes():
    x = rand(8, 12)

    def k(a):
        t = sbuf(a).reshape((8, 3, 4))
        d = nl.ndarray((12, 8), nl.float32, buffer=nl.psum)
        nisa.nc_transpose(d, t)
        return out(d)

    np.testing.assert_array_equal(run(k, x), x.T)


def test_nl_matmul_and_transpose():
    x, y = rand(64, 32), rand(32, 100)

    def k(a, b):
        r = nl.matmul(nl.load(a), nl.load(b))
        t = nl.transpose(nl.load(a))
        return out(r), out(t)

    r, t = run(k, x, y)
    np.testing.assert_allclose(r, x @ y, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(t, x.T)
