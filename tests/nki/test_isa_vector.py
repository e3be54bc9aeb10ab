import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf


def _tt(a, b, op, dtype=nl.float32, **kw):
    def k(x, y):
        d = nl.ndarray(x.shape, dtype, buffer=nl.sbuf)
        nisa.tensor_tensor(dst=d, data1=sbuf(x), data2=sbuf(y), op=op, **kw)
        return out(d)

    return run(k, a, b)


@pytest.mark.parametrize(
    "op,ref",
    [
        (nl.add, np.add),
        (nl.subtract, np.subtract),
        (nl.multiply, np.multiply),
        (nl.divide, np.divide),
        (nl.maximum, np.maximum),
        (nl.minimum, np.minimum),
    ],
)
def test_tensor_tensor_arith(op, ref):
    a, b = rand(64, 32), rand(64, 32, seed=1) + 3
    np.testing.assert_allclose(_tt(a, b, op), ref(a, b), rtol=1e-6)


def test_tensor_tensor_compare_power_bitvec_int():
    a, b = rand(8, 8), rand(8, 8, seed=1)
    np.testing.assert_array_equal(_tt(a, b, nl.greater), (a > b).astype(np.float32))
    pa = np.abs(a) + 0.5
    np.testing.assert_allclose(_tt(pa, b, nl.power), pa**b, rtol=1e-5)
    ia = np.arange(64, dtype=np.int32).reshape(8, 8) * 12345678
    ib = np.full((8, 8), 7, dtype=np.int32)
    np.testing.assert_array_equal(_tt(ia, ib, nl.add, nl.int32), ia + ib)  # exact int32 on GpSimd
    np.testing.assert_array_equal(_tt(ia, ib, nl.bitwise_and, nl.int32), ia & ib)


def test_tensor_tensor_errors():
    a = rand(8, 8)
    with pytest.raises(NkiValidationError, match="bitvec operators need integer dtypes"):
        _tt(a, a, nl.bitwise_or)
    with pytest.raises(NkiValidationError, match="engine must be vector or gpsimd"):
        _tt(a, a, nl.add, engine=nisa.engine.scalar)

    def both_psum(x):
        p1 = nl.ndarray((8, 8), nl.float32, buffer=nl.psum)
        p2 = nl.ndarray((8, 8), nl.float32, buffer=nl.psum)
        nisa.memset(p1, 0.0)
        nisa.memset(p2, 0.0)
        d = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        nisa.tensor_tensor(d, p1, p2, nl.add)

    with pytest.raises(NkiValidationError, match="cannot both be in PSUM"):
        run(both_psum, a)

    def power_psum(x):
        p1 = nl.ndarray((8, 8), nl.float32, buffer=nl.psum)
        nisa.memset(p1, 1.0)
        d = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        nisa.tensor_tensor(d, p1, sbuf(x), nl.power)

    with pytest.raises(NkiValidationError, match="GpSimd cannot access PSUM"):
        run(power_psum, a)

    def layout(x, y):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_tensor(d, sbuf(x), sbuf(y), nl.add)

    with pytest.raises(NkiValidationError, match="elements per partition"):
        run(layout, rand(8, 8), rand(8, 4))

    def hbm(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_tensor(d, x, x, nl.add)

    with pytest.raises(NkiValidationError, match="data1 must be in SBUF or PSUM, got HBM"):
        run(hbm, a)

    def too_many_partitions(x):
        d = nl.ndarray((128, 4), nl.float32, buffer=nl.sbuf)
        big = sbuf(x).ap([[4, 256], [1, 4]])  # an access pattern spanning 256 partitions
        nisa.tensor_tensor(d, big, big, nl.add)

    with pytest.raises(NkiValidationError, match="partition dimension 256 exceeds maximum 128"):
        run(too_many_partitions, rand(128, 8))


def test_tensor_scalar_scalars_vectors_reverse():
    a = rand(16, 32)
    v = rand(16, 1, seed=1)

    def k(x, col):
        d1 = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(d1, sbuf(x), nl.multiply, 2.0, op1=nl.add, operand1=1.0)
        d2 = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(d2, sbuf(x), nl.subtract, sbuf(col), reverse0=True)
        d3 = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(d3, sbuf(x), nl.abs, None, engine=nisa.engine.vector)
        return out(d1), out(d2), out(d3)

    d1, d2, d3 = run(k, a, v)
    np.testing.assert_allclose(d1, a * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(d2, v - a, rtol=1e-6)
    np.testing.assert_allclose(d3, np.abs(a))


def test_tensor_scalar_errors():
    a = rand(16, 8)

    def bad_vec(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        col = nl.ndarray((16, 2), nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(d, sbuf(x), nl.add, col)

    with pytest.raises(NkiValidationError, match=r"operand0 must be a scalar or a \(16, 1\) tile"):
        run(bad_vec, a)

    def mixed(x):
        d = nl.ndarray(x.shape, nl.int32, buffer=nl.sbuf)
        nisa.tensor_scalar(d, sbuf(x, nl.int32), nl.add, 1, op1=nl.bitwise_and, operand1=3)

    with pytest.raises(NkiValidationError, match="both be bitvec or both arithmetic"):
        run(mixed, a)

    def scalar_engine(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(d, sbuf(x), nl.subtract, 1.0, engine=nisa.engine.scalar)

    with pytest.raises(NkiValidationError, match="scalar engine on trn2 supports only"):
        run(scalar_engine, a)

    def bf16_operand(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar(d, sbuf(x), nl.add, sbuf(x[:, 0:1], nl.bfloat16))

    with pytest.raises(NkiValidationError, match="operand0 tile must be float32"):
        run(bf16_operand, a)


def test_scalar_tensor_tensor():
    a, b = rand(16, 8), rand(16, 8, seed=2)

    def k(x, y):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.scalar_tensor_tensor(
            dst=d, data=sbuf(x), op0=nl.multiply, operand0=3.0, op1=nl.subtract, operand1=sbuf(y), reverse1=True
        )
        return out(d)

    np.testing.assert_allclose(run(k, a, b), b - a * 3.0, rtol=1e-6)


def test_reciprocal():
    a = rand(8, 8) + 5

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.reciprocal(d, sbuf(x))
        return out(d)

    np.testing.assert_allclose(run(k, a), 1 / a, rtol=1e-6)
