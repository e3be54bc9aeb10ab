import ml_dtypes
import nki
import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf


def test_dma_copy_roundtrip_and_slices():
    a = rand(256, 64)

    def k(x):
        o = nl.ndarray((128, 32), nl.float32, buffer=nl.shared_hbm)
        t = nl.ndarray((128, 32), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=x[128:256, ::2])
        nisa.dma_copy(dst=o, src=t)
        return o

    np.testing.assert_array_equal(run(k, a), a[128:, ::2])


def test_dma_copy_psum_source_is_an_error():
    def k(x):
        p = nl.ndarray((8, 8), nl.float32, buffer=nl.psum)
        nisa.memset(p, 0.0)
        o = nl.ndarray((8, 8), nl.float32, buffer=nl.shared_hbm)
        nisa.dma_copy(dst=o, src=p)

    with pytest.raises(NkiValidationError, match="dma_copy: src is in PSUM"):
        run(k, rand(8, 8))


def test_dma_copy_errors():
    def count(x):
        t = nl.ndarray((8, 4), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=x)

    with pytest.raises(NkiValidationError, match="element count mismatch"):
        run(count, rand(8, 8))

    def engine(x):
        t = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=x, engine=nisa.engine.sync)

    with pytest.raises(NkiValidationError, match="only valid with dge_mode=hwdge"):
        run(engine, rand(8, 8))

    def prio(x):
        t = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=x, priority=1)

    with pytest.raises(NkiValidationError, match="NeuronCore-v4"):
        run(prio, rand(8, 8))


def test_dma_copy_indirect_gather_and_scatter():
    data = rand(32, 16)
    idx = np.array([[5], [0], [31], [7]], dtype=np.uint32)

    def gather(d, i):
        o = nl.ndarray((4, 16), d.dtype, buffer=nl.shared_hbm)
        it = nl.ndarray((4, 1), nl.uint32, buffer=nl.sbuf)
        nisa.dma_copy(dst=it, src=i)
        t = nl.ndarray((4, 16), d.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=d.ap(pattern=[[16, 4], [1, 16]], vector_offset=it, indirect_dim=0))
        nisa.dma_copy(dst=o, src=t)
        return o

    np.testing.assert_array_equal(run(gather, data, idx), data[idx[:, 0]])

    target = np.zeros((32, 16), np.float32)
    src = rand(4, 16, seed=3)

    def scatter(s, i, o):
        it = nl.ndarray((4, 1), nl.uint32, buffer=nl.sbuf)
        nisa.dma_copy(dst=it, src=i)
        nisa.dma_copy(dst=o.ap(pattern=[[16, 4], [1, 16]], vector_offset=it, indirect_dim=0), src=sbuf(s))
        return o

    got = run(scatter, src, idx, target)
    expect = np.zeros((32, 16), np.float32)
    expect[idx[:, 0]] = src
    np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(target, expect)  # HBM inputs are updated in place

    bad = np.array([[40], [0], [1], [2]], dtype=np.uint32)
    with pytest.raises(NkiValidationError, match="out of bounds"):
        run(gather, data, bad)


def test_tensor_copy_bit_exact_and_engines():
    ints = np.array([[16777217, -5, 2**31 - 1]], dtype=np.int32)

    def k(x):
        d = nl.ndarray(x.shape, nl.int32, buffer=nl.sbuf)
        nisa.tensor_copy(dst=d, src=sbuf(x), engine=nisa.engine.gpsimd)
        return out(d)

    np.testing.assert_array_equal(run(k, ints), ints)

    def gpsimd_psum(x):
        p = nl.ndarray(x.shape, nl.float32, buffer=nl.psum)
        nisa.tensor_copy(dst=p, src=sbuf(x), engine=nisa.engine.gpsimd)

    with pytest.raises(NkiValidationError, match="GpSimd cannot access PSUM"):
        run(gpsimd_psum, rand(4, 4))


def test_tensor_copy_scalar_engine_v2(monkeypatch):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn1")

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_copy(dst=d, src=sbuf(x), engine=nisa.engine.scalar)

    with pytest.raises(NkiValidationError, match="NeuronCore-v2"):
        run(k, rand(4, 4))


def test_memset():
    def k(x):
        f = nl.ndarray((4, 4), nl.bfloat16, buffer=nl.sbuf)
        nisa.memset(dst=f, value=1.5)
        i = nl.ndarray((4, 4), nl.int16, buffer=nl.sbuf)
        nisa.memset(dst=i, value=-3)
        return out(f), out(i)

    f, i = run(k, rand(1, 1))
    assert (f.astype(np.float32) == 1.5).all() and (i == -3).all()

    def bad(x):
        i = nl.ndarray((4, 4), nl.int32, buffer=nl.sbuf)
        nisa.memset(dst=i, value=0.5)

    with pytest.raises(NkiValidationError, match="does not match integer dst dtype"):
        run(bad, rand(1, 1))


def test_iota():
    def k(x):
        d = nl.ndarray((4, 2, 3), nl.int32, buffer=nl.sbuf)
        nisa.iota(d, pattern=[[10, 2], [1, 3]], offset=5, channel_multiplier=100)
        f = nl.ndarray((4, 6), nl.float32, buffer=nl.sbuf)
        nisa.iota(f, pattern=[[1, 6]])
        return out(d), out(f)

    d, f = run(k, rand(1, 1))
    p = np.arange(4)[:, None, None]
    np.testing.assert_array_equal(d, 5 + 100 * p + 10 * np.arange(2)[None, :, None] + np.arange(3)[None, None, :])
    np.testing.assert_array_equal(f, np.tile(np.arange(6, dtype=np.float32), (4, 1)))

    def bad(x):
        d = nl.ndarray((4, 5), nl.int32, buffer=nl.sbuf)
        nisa.iota(d, pattern=[[1, 6]])

    with pytest.raises(NkiValidationError, match="pattern covers 6 elements but dst has 5"):
        run(bad, rand(1, 1))


def test_dma_transpose_and_compute():
    a = rand(16, 32).astype(np.float16)
    b = rand(16, 32, seed=2)

    def k(x, y):
        t = nl.ndarray((32, 16), nl.float16, buffer=nl.sbuf)
        nisa.dma_transpose(dst=t, src=x)
        s = nl.ndarray((16, 32), nl.float32, buffer=nl.sbuf)
        nisa.dma_compute(dst=s, srcs=[y, x], reduce_op=nl.add)
        return out(t), out(s)

    t, s = run(k, a, b)
    np.testing.assert_array_equal(t, a.T)
    np.testing.assert_allclose(s, b + a.astype(np.float32), rtol=1e-6)


def test_nc_n_gather_and_shuffle():
    a = rand(16, 10)
    idx = np.random.default_rng(1).integers(0, 10, size=(16, 4)).astype(np.uint32)

    def k(x, i):
        g = nl.ndarray((16, 4), nl.float32, buffer=nl.sbuf)
        nisa.nc_n_gather(g, sbuf(x), sbuf(i))
        sh = nl.ndarray((16, 10), nl.float32, buffer=nl.sbuf)
        nisa.memset(sh, 0.0)
        mask = [(j + 1) % 16 for j in range(16)] + [255] * 16
        nisa.nc_stream_shuffle(sh, sbuf(x), mask)
        return out(g), out(sh)

    g, sh = run(k, a, idx)
    np.testing.assert_array_equal(g, np.take_along_axis(a, idx.astype(np.int64), 1))
    np.testing.assert_array_equal(sh, a[[(j + 1) % 16 for j in range(16)]])


def test_nonzero_with_count_and_sequence_bounds():
    a = np.zeros((16, 8), np.int32)
    a[0] = [0, 1, 1, 0, 0, 1, 0, 0]

    def k(x):
        d = nl.ndarray((16, 9), nl.int32, buffer=nl.sbuf)
        nisa.memset(d, 0)
        nisa.nonzero_with_count(dst=d, src=sbuf(x), index_offset=16, padding_val=-1)
        return out(d)

    np.testing.assert_array_equal(run(k, a)[0], [17, 18, 21, -1, -1, -1, -1, -1, 3])

    ids = np.array([[1, 1, 2, 2, 2, 0, 3]], np.int32)

    def sb(x):
        d = nl.ndarray((1, 2, 7), nl.int32, buffer=nl.sbuf)
        nisa.sequence_bounds(d, sbuf(x))
        return out(d)

    got = run(sb, ids)
    np.testing.assert_array_equal(got[0, 0], [0, 0, 2, 2, 2, 7, 6])
    np.testing.assert_array_equal(got[0, 1], [1, 1, 4, 4, 4, -1, 6])


def test_registers(monkeypatch):
    monkeypatch.setenv("PORTER_NKI_VERSION", "0.6")  # dynamic_range: deprecated in 0.6, removed in 0.7

    def k(x):
        r = nisa.register_alloc(3)
        r2 = nisa.register_alloc()
        nisa.register_move(r2, r)
        t = nl.ndarray((1, 1), nl.int32, buffer=nl.sbuf)
        nisa.register_store(t, r2)
        r3 = nisa.register_alloc()
        nisa.register_load(r3, t)
        count = 0
        for _ in nl.dynamic_range(r3):
            count += 1
        return count

    with pytest.warns(DeprecationWarning, match="dynamic_range"):
        assert run(k, rand(1, 1)) == 3


def _local_gather_reference(src, index, num_valid_indices, num_elem_per_idx):
    """NumPy semantics published with the SDK example (nki/test/test_nki_isa_local_gather.py)."""
    out = np.empty((src.shape[0], num_valid_indices, num_elem_per_idx), src.dtype)
    for core in range(src.shape[0] // 16):
        s, e = core * 16, (core + 1) * 16
        indices_1d = index[s:e].flatten(order="F")[:num_valid_indices]
        out[s:e] = np.take(src[s:e], indices_1d, axis=1)
    return out


def _lg_kernel(src_buffer, index, num_elem_per_idx, num_valid_indices, output_shape):
    output = nl.ndarray(output_shape, dtype=src_buffer.dtype, buffer=nl.shared_hbm)
    src_tile = nl.load(src_buffer)
    index_tile = nl.load(index)
    output_tile = nl.ndarray(output_shape, dtype=src_buffer.dtype, buffer=nl.sbuf)
    nisa.local_gather(
        dst=output_tile,
        src_buffer=src_tile,
        index=index_tile,
        num_elem_per_idx=num_elem_per_idx,
        num_valid_indices=num_valid_indices,
    )
    nl.store(output, output_tile)
    return output


def test_local_gather_documented_example():
    # The SDK example: src (128, 512, 4), one (16, 4) index block replicated to the 8 GpSimd cores,
    # 4 contiguous elements per index, 64 valid indices per core; hardware indices are element
    # offsets (index * num_elem_per_idx).
    g = np.random.default_rng(0)
    src = (g.random((128, 512, 4)) * 100).astype(np.float32)
    index = np.tile(g.integers(0, 512, (16, 4)).astype(np.uint16), (8, 1))
    got = nki.simulate(nki.jit(_lg_kernel))(src, index * 4, 4, 64, (128, 4, 16, 4))
    ref = _local_gather_reference(src, index, 64, 4).reshape(128, 4, 16, 4)
    np.testing.assert_array_equal(got, ref)


def test_local_gather_per_core_indices_and_defaults():
    # Different indices per core; default num_valid_indices = all indices of a 16-partition slice.
    g = np.random.default_rng(1)
    src = g.standard_normal((32, 40)).astype(np.float32)
    index = g.integers(0, 40, (32, 3)).astype(np.uint16)

    def k(x, i):
        d = nl.ndarray((32, 48), nl.float32, buffer=nl.sbuf)
        nisa.local_gather(d, sbuf(x), sbuf(i))
        return out(d)

    got = run(k, src, index)
    ref = _local_gather_reference(src[:, :, None], index, 48, 1).reshape(32, 48)
    np.testing.assert_array_equal(got, ref)
    assert not np.array_equal(ref[:16], ref[16:])  # the two cores really used different lists


def test_local_gather_fewer_valid_indices_and_bf16():
    g = np.random.default_rng(2)
    src = g.standard_normal((16, 64)).astype(np.float32)
    index = (g.integers(0, 32, (16, 2)) * 2).astype(np.uint16)  # element offsets for 2-element reads

    def k(x, i):
        xb = nl.ndarray(x.shape, nl.bfloat16, buffer=nl.sbuf)
        nisa.dma_copy(dst=xb, src=x)
        d = nl.ndarray((16, 20, 2), nl.bfloat16, buffer=nl.sbuf)
        nisa.local_gather(d, xb, sbuf(i), num_elem_per_idx=2, num_valid_indices=20)
        return out(d)

    got = run(k, src, index)
    ref = _local_gather_reference(src.reshape(16, 32, 2), index // 2, 20, 2)
    np.testing.assert_array_equal(got.astype(np.float32), ref.astype(ml_dtypes.bfloat16).astype(np.float32))


_OOB_INDEX = np.zeros((16, 1), np.uint16)
_OOB_INDEX[3, 0] = 100


@pytest.mark.parametrize(
    "dshape,index,n,valid,match",
    [
        ((16, 16), np.zeros((16, 1), np.uint32), 1, None, "index must be uint16"),
        ((16, 16), np.zeros((16, 1), np.uint16), 3, None, "num_elem_per_idx must be one of"),
        ((16, 17), np.zeros((16, 1), np.uint16), 1, None, r"expected num_valid_indices \* num_elem_per_idx = 16 \* 1"),
        ((16, 17), np.zeros((16, 1), np.uint16), 1, 17, r"num_valid_indices 17 must be in \[1, 16\]"),
        ((16, 16), _OOB_INDEX, 1, None, "reads past the 8 elements per partition"),
    ],
)
def test_local_gather_errors(dshape, index, n, valid, match):
    def k(x, i):
        d = nl.ndarray(dshape, nl.float32, buffer=nl.sbuf)
        nisa.local_gather(d, sbuf(x), sbuf(i), num_elem_per_idx=n, num_valid_indices=valid)

    with pytest.raises(NkiValidationError, match=match):
        run(k, rand(16, 8), index)
