"""Property tests: element-wise instructions agree with NumPy for random shapes, dtypes and values."""

import ml_dtypes
import nki.isa as nisa
import nki.language as nl
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nki.helpers import out, run, sbuf

DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
OPS = {
    "add": (nl.add, np.add),
    "multiply": (nl.multiply, np.multiply),
    "maximum": (nl.maximum, np.maximum),
    "subtract": (nl.subtract, np.subtract),
}


@settings(max_examples=30, deadline=None)
@given(
    p=st.integers(1, 128),
    f=st.integers(1, 64),
    dtype=st.sampled_from(sorted(DTYPES)),
    op=st.sampled_from(sorted(OPS)),
    seed=st.integers(0, 2**16),
)
def test_tensor_tensor_matches_numpy(p, f, dtype, op, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((p, f)).astype(np.float32)
    b = rng.standard_normal((p, f)).astype(np.float32)
    nl_op, np_op = OPS[op]

    def k(x, y):
        d = nl.ndarray(x.shape, dtype, buffer=nl.sbuf)
        nisa.tensor_tensor(d, sbuf(x, dtype), sbuf(y, dtype), nl_op)
        return out(d)

    t = DTYPES[dtype]
    ref = np_op(a.astype(t).astype(np.float32), b.astype(t).astype(np.float32)).astype(t)
    np.testing.assert_array_equal(run(k, a, b), ref)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(1, 128), k=st.integers(1, 128), n=st.integers(1, 512), seed=st.integers(0, 2**16))
def test_nc_matmul_matches_numpy(p, k, n, seed):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((p, k)).astype(np.float32)
    m = rng.standard_normal((p, n)).astype(np.float32)

    def kern(x, y):
        d = nl.ndarray((k, n), nl.float32, buffer=nl.psum)
        nisa.nc_matmul(d, sbuf(x), sbuf(y))
        return out(d)

    np.testing.assert_allclose(run(kern, s, m), s.T @ m, rtol=1e-4, atol=1e-4)
