import math

import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError, last_run_stats
from tests.nki.helpers import out, rand, run

ERF = np.vectorize(math.erf)


def _unary(fn, a, **kw):
    return run(lambda x: out(fn(nl.load(x), **kw)), a)


@pytest.mark.parametrize(
    "fn,ref",
    [
        (nl.exp, np.exp),
        (nl.log, lambda x: np.log(np.abs(x) + 1)),
        (nl.tanh, np.tanh),
        (nl.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
        (nl.relu, lambda x: np.maximum(x, 0)),
        (nl.gelu, lambda x: 0.5 * x * (1 + ERF(x / np.sqrt(2)))),
        (nl.gelu_apprx_sigmoid, lambda x: x / (1 + np.exp(-1.702 * x))),
        (nl.silu, lambda x: x / (1 + np.exp(-x))),
        (nl.rsqrt, lambda x: 1 / np.sqrt(np.abs(x) + 1)),
        (nl.sqrt, lambda x: np.sqrt(np.abs(x) + 1)),
        (nl.reciprocal, lambda x: 1 / (np.abs(x) + 1)),
        (nl.abs, np.abs),
        (nl.negative, np.negative),
        (nl.square, np.square),
        (nl.sin, np.sin),
        (nl.cos, np.cos),
        (nl.erf, ERF),
    ],
)
def test_unary(fn, ref):
    a = rand(16, 32)
    inp = np.abs(a) + 1 if fn in (nl.log, nl.rsqrt, nl.sqrt, nl.reciprocal) else a
    expect = ref(a) if fn not in (nl.log, nl.rsqrt, nl.sqrt, nl.reciprocal) else ref(a)
    np.testing.assert_allclose(_unary(fn, inp), expect, rtol=2e-5, atol=2e-6)


def test_binary_and_operators():
    a, b = rand(16, 8), rand(16, 8, seed=1)

    def k(x, y):
        xt, yt = nl.load(x), nl.load(y)
        r = [
            nl.add(xt, yt),
            nl.subtract(xt, 1.0),
            nl.multiply(2.0, yt),
            nl.divide(xt, 4.0),
            nl.maximum(xt, yt),
            nl.minimum(xt, yt),
            nl.power(nl.abs(xt), 2.0),
            nl.where(nl.greater(xt, yt), xt, yt),
            xt + yt * 2 - 1,
            -xt / 2,
            (xt > yt),
            abs(xt),
        ]
        return tuple(out(t) for t in r)

    got = run(k, a, b)
    refs = [
        a + b,
        a - 1,
        2 * b,
        a / 4,
        np.maximum(a, b),
        np.minimum(a, b),
        a**2,
        np.where(a > b, a, b),
        a + b * 2 - 1,
        -a / 2,
        a > b,
        np.abs(a),
    ]
    for g, r in zip(got, refs, strict=True):
        np.testing.assert_allclose(g.astype(np.float32), np.asarray(r, np.float32), rtol=1e-5, atol=1e-6)


def test_inplace_psum_accumulate_legacy_idiom():
    a, b = rand(256, 64), rand(256, 32, seed=1)

    def k(x, y):
        acc = nl.zeros((64, 32), nl.float32, buffer=nl.psum)
        for i in nl.affine_range(2):
            acc += nl.matmul(
                nl.load(x[i * 128 : (i + 1) * 128, :]), nl.load(y[i * 128 : (i + 1) * 128, :]), transpose_x=True
            )
        return out(nl.copy(acc))

    np.testing.assert_allclose(run(k, a, b), a.T @ b, rtol=1e-4, atol=1e-4)


def test_broadcast_and_dtype_arg():
    a = rand(16, 1)

    def k(x):
        t = nl.load(x)
        return out(nl.broadcast_to(t, (16, 8))), out(nl.add(t, t, dtype=nl.bfloat16)), out(t.broadcast_to((16, 4)))

    b, s, c = run(k, a)
    np.testing.assert_array_equal(b, np.broadcast_to(a, (16, 8)))
    assert s.dtype.name == "bfloat16" and c.shape == (16, 4)


def test_reductions():
    a = rand(16, 4, 8)

    def k(x):
        t = nl.load(x)
        return (
            out(nl.sum(t, axis=(1, 2))),
            out(nl.max(t, axis=2)),
            out(nl.min(t, axis=[1], keepdims=True)),
            out(nl.mean(t, axis=2)),
            out(nl.prod(t, axis=2)),
            out(nl.all(nl.greater(t, -100.0), axis=2)),
            out(nl.var(t, axis=2)),
        )

    s, mx, mn, me, pr, al, va = run(k, a)
    np.testing.assert_allclose(s, a.sum((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(mx, a.max(2))
    np.testing.assert_allclose(mn, a.min(1, keepdims=True))
    np.testing.assert_allclose(me, a.mean(2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pr, a.prod(2), rtol=1e-5)
    assert al.all()
    np.testing.assert_allclose(va, a.var(2), rtol=1e-5)
    with pytest.raises(NkiValidationError, match="cannot reduce the partition axis"):
        run(lambda x: nl.sum(nl.load(x), axis=0), a)


def test_softmax_rms_norm():
    a, w = rand(16, 64), rand(1, 64, seed=3)

    def k(x, ww):
        t = nl.load(x)
        return out(nl.softmax(t, axis=1)), out(nl.rms_norm(t, nl.load(ww), axis=1, n=64))

    sm, rn = run(k, a, w)
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(sm, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rn, a / np.sqrt((a * a).mean(1, keepdims=True) + 1e-6) * w, rtol=1e-5)


def test_creation_and_expand_dims():
    def k(x):
        z = nl.zeros((4, 3), nl.float32)
        o = nl.ones((4, 3), nl.int32)
        f = nl.full((4, 3), 2.5, nl.float32)
        zl = nl.zeros_like(f)
        e = nl.expand_dims(f, 1)
        i = nl.shared_identity_matrix(4, dtype=nl.float32)
        return out(z), out(o), out(f), out(zl), e.shape, nl.load(i)._read_raw()

    z, o, f, zl, eshape, ident = run(k, rand(1, 1))
    assert (z == 0).all() and (o == 1).all() and (f == 2.5).all() and (zl == 0).all()
    assert eshape == (4, 1, 3)
    np.testing.assert_array_equal(ident, np.eye(4))


def test_ranges_and_program_ids():
    with pytest.warns(DeprecationWarning):
        assert list(nl.affine_range(3)) == [0, 1, 2]
    with pytest.warns(DeprecationWarning):
        assert list(nl.sequential_range(1, 7, 2)) == [1, 3, 5]
    with pytest.warns(DeprecationWarning):
        assert list(nl.static_range(2)) == [0, 1]
    seen = []
    nl.fori_loop(0, 3, lambda i: seen.append(i._nki_scalar_value()))
    assert seen == [0, 1, 2]
    assert nl.ds(4, 3) == slice(4, 7)

    import nki

    @nki.jit
    def ids(x):
        o = nl.ndarray((2, 3), nl.int32, buffer=nl.shared_hbm)
        t = nl.full((1, 1), nl.program_id(0) * 10 + nl.program_id(1), nl.int32)
        nl.store(o[nl.program_id(0) : nl.program_id(0) + 1, nl.program_id(1) : nl.program_id(1) + 1], t)
        assert nl.num_programs(0) == 2 and nl.num_programs(1) == 3 and nl.program_ndim() == 2
        return o

    np.testing.assert_array_equal(ids[2, 3](rand(1, 1)), [[0, 1, 2], [10, 11, 12]])
    assert last_run_stats().instances == 6


def test_hbm_operand_rejected():
    with pytest.raises(NkiValidationError, match="is in HBM; load it into SBUF first"):
        run(lambda x: nl.exp(x), rand(4, 4))


def test_load_from_psum_rejected():
    def k(x):
        nl.load(nl.zeros((4, 4), nl.float32, buffer=nl.psum))

    with pytest.raises(NkiValidationError, match="DMA cannot read PSUM"):
        run(k, rand(1, 1))


def test_shared_constant_from_nki_tensor():
    import nki.tensor as ntensor

    def k(x):
        c = nl.shared_constant(ntensor.arange(0, 8, 1, dtype=nl.int32), dtype=nl.float32)
        ident = nl.shared_constant(ntensor.identity(4, dtype=nl.int8), dtype=nl.float16)
        return c, ident

    c, ident = run(k, rand(1, 1))
    np.testing.assert_array_equal(c, np.arange(8, dtype=np.float32))
    assert ident.dtype == np.float16 and (ident == np.eye(4)).all()
