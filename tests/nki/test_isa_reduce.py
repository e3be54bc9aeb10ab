import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf


def _reduce(a, op, axis, dst_shape, **kw):
    def k(x):
        d = nl.ndarray(dst_shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_reduce(dst=d, op=op, data=sbuf(x), axis=axis, **kw)
        return out(d)

    return run(k, a)


def test_tensor_reduce_ops_axes():
    a = rand(16, 4, 8)
    np.testing.assert_allclose(_reduce(a, nl.add, (1, 2), (16, 1))[:, 0], a.sum((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(_reduce(a, nl.maximum, 2, (16, 4)), a.max(2))
    np.testing.assert_allclose(_reduce(a, nl.max, [2], (16, 4)), a.max(2))
    np.testing.assert_allclose(_reduce(a, nl.minimum, -1, (16, 4), negate=True), -a.min(2))
    np.testing.assert_allclose(_reduce(a, nl.multiply, 2, (16, 4, 1), keepdims=True)[..., 0], a.prod(2), rtol=1e-5)


def test_tensor_reduce_errors():
    a = rand(16, 4, 8)
    with pytest.raises(NkiValidationError, match="axis 0 .* cannot be reduced"):
        _reduce(a, nl.add, 0, (1, 32))
    with pytest.raises(NkiValidationError, match="last contiguous free dims"):
        _reduce(a, nl.add, 1, (16, 8))
    with pytest.raises(NkiValidationError, match="dst must have 4 elements per partition"):
        _reduce(a, nl.add, 2, (16, 2))
    with pytest.raises(NkiValidationError, match="bitvec operators need integer dtypes"):
        _reduce(a, nl.bitwise_or, 2, (16, 4))


def test_tensor_partition_reduce():
    a = rand(32, 8)

    def k(x):
        d = nl.ndarray((1, 8), nl.float32, buffer=nl.sbuf)
        nisa.tensor_partition_reduce(d, nl.add, sbuf(x))
        return out(d)

    np.testing.assert_allclose(run(k, a)[0], a.sum(0), rtol=1e-5)


def test_tensor_tensor_scan():
    a, b = rand(8, 16), rand(8, 16, seed=1)

    def k(x, y):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_tensor_scan(d, sbuf(x), sbuf(y), initial=1.0, op0=nl.multiply, op1=nl.add)
        return out(d)

    ref = np.empty_like(a)
    prev = np.ones(8, np.float32)
    for i in range(16):
        prev = a[:, i] * prev + b[:, i]
        ref[:, i] = prev
    np.testing.assert_allclose(run(k, a, b), ref, rtol=1e-5)


def test_tensor_scalar_reduce_and_cumulative():
    a = rand(8, 16)

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((8, 1), nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar_reduce(d, sbuf(x), nl.multiply, 2.0, reduce_op=nl.maximum, reduce_res=r)
        c = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar_cumulative(c, sbuf(x), op0=nl.add, op1=nl.add, imm0=1.0)
        cm = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar_cumulative(cm, sbuf(x), op0=nl.multiply, op1=nl.maximum, imm0=1.0)
        return out(d), out(r), out(c), out(cm)

    d, r, cs, cm = run(k, a)
    np.testing.assert_allclose(d, a * 2)
    np.testing.assert_allclose(r[:, 0], (a * 2).max(1))
    np.testing.assert_allclose(cs, np.cumsum(a + 1, axis=1), rtol=1e-5)
    np.testing.assert_allclose(cm, np.maximum.accumulate(a, axis=1))

    def bad(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((8, 1), nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar_reduce(
            d, sbuf(x), nl.add, 1.0, reduce_op=nl.add, reduce_res=r, reduce_cmd=nisa.reduce_cmd.load_reduce
        )

    with pytest.raises(NkiValidationError, match="reduce_init must be provided"):
        run(bad, a)


def test_bn_stats_bn_aggr():
    a = rand(16, 1024)

    def k(x):
        xs = sbuf(x)
        st = nl.ndarray((16, 12), nl.float32, buffer=nl.sbuf)
        nisa.bn_stats(st[:, 0:6], xs[:, 0:512])
        nisa.bn_stats(st[:, 6:12], xs[:, 512:1024])
        mv = nl.ndarray((16, 2), nl.float32, buffer=nl.sbuf)
        nisa.bn_aggr(mv, st)
        return out(mv)

    mv = run(k, a)
    np.testing.assert_allclose(mv[:, 0], a.mean(1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mv[:, 1], a.var(1), rtol=1e-4)

    def too_wide(x):
        st = nl.ndarray((16, 6), nl.float32, buffer=nl.sbuf)
        nisa.bn_stats(st, sbuf(x))

    with pytest.raises(NkiValidationError, match="maximum is 512"):
        run(too_wide, a)


def test_max8_find_index8_match_replace8():
    a = np.random.default_rng(0).permutation(128 * 64).reshape(4, 32, 64)[0].astype(np.float32)

    def k(x):
        xs = sbuf(x)
        m = nl.ndarray((32, 8), nl.float32, buffer=nl.sbuf)
        nisa.max8(dst=m, src=xs)
        idx = nl.ndarray((32, 8), nl.uint32, buffer=nl.sbuf)
        nisa.nc_find_index8(dst=idx, data=xs, vals=m)
        rep = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        idx2 = nl.ndarray((32, 8), nl.uint16, buffer=nl.sbuf)
        nisa.nc_match_replace8(dst=rep, data=xs, vals=m, imm=-1.0, dst_idx=idx2)
        return out(m), out(idx), out(rep), out(idx2)

    m, idx, rep, idx2 = run(k, a)
    ref_idx = np.argsort(-a, axis=1)[:, :8]
    np.testing.assert_array_equal(m, -np.sort(-a, axis=1)[:, :8])
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(idx2, ref_idx)
    expect = a.copy()
    np.put_along_axis(expect, ref_idx, -1.0, axis=1)
    np.testing.assert_array_equal(rep, expect)

    def small(x):
        m = nl.ndarray((32, 8), nl.float32, buffer=nl.sbuf)
        nisa.max8(m, sbuf(x)[:, 0:4])

    with pytest.raises(NkiValidationError, match=r"must be in \[8, 16384\]"):
        run(small, a)
