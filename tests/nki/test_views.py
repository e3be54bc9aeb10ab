import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf


def test_indexing_steps_ints_ellipsis():
    a = rand(8, 6, 10)

    def k(x):
        t = sbuf(x)
        return out(t[1:7:2, 3, ::3]), out(t[..., 4:5]), x[2].shape, x[-1, -2:, 1::4].shape

    s1, s2, hshape, hshape2 = run(k, a)
    np.testing.assert_array_equal(s1, a[1:7:2, 3, ::3])
    np.testing.assert_array_equal(s2, a[..., 4:5])
    assert hshape == (6, 10) and hshape2 == (2, 3)


def test_index_errors():
    def oob(x):
        sbuf(x)[:, 0:20]

    with pytest.raises(IndexError, match="out of bounds"):
        run(oob, rand(4, 8))

    def part(x):
        sbuf(x)[0]

    with pytest.raises(NkiValidationError, match="partition dimension"):
        run(part, rand(4, 8))

    def neg_step(x):
        sbuf(x)[:, ::-1]

    with pytest.raises(NkiValidationError, match="step must be positive"):
        run(neg_step, rand(4, 8))


def test_view_methods_share_storage():
    a = rand(4, 6, 8)

    def k(x):
        t = sbuf(x)
        s = t.slice(2, 1, 7, 2)
        sel = t.select(1, 2)
        per = t.permute((0, 2, 1))
        rs = t.reshape((4, 48))
        fl = t.flatten_dims(1, 2)
        rd = rs.reshape_dim(1, (12, 4))
        ex = sel.expand_dim(1)
        sq = ex.squeeze_dim(1)
        bc = t[:, 0:1, 0].expand_dim(2).broadcast(2, 5)
        nisa.memset(t[:, 0, 0:1], 100.0)  # visible through every view
        return (
            out(s),
            out(sel),
            out(per),
            out(rs),
            out(fl),
            out(rd),
            out(sq),
            out(bc),
            t.get_pattern(),
            per.is_contiguous(),
        )

    s, sel, per, rs, fl, rd, sq, bc, pattern, contig = run(k, a)
    b = a.copy()
    b[:, 0, 0] = 100
    np.testing.assert_array_equal(s, b[:, :, 1:7:2])
    np.testing.assert_array_equal(sel, b[:, 2])
    np.testing.assert_array_equal(per, b.transpose(0, 2, 1))
    np.testing.assert_array_equal(rs, b.reshape(4, 48))
    np.testing.assert_array_equal(fl, b.reshape(4, 48))
    np.testing.assert_array_equal(rd, b.reshape(4, 12, 4))
    np.testing.assert_array_equal(sq, b[:, 2])
    np.testing.assert_array_equal(bc, np.broadcast_to(b[:, 0:1, 0:1], (4, 1, 5)))
    assert pattern == [[48, 4], [8, 6], [1, 8]] and not contig


def test_view_errors():
    def perm(x):
        sbuf(x).permute((1, 0))

    with pytest.raises(NkiValidationError, match="must stay first"):
        run(perm, rand(4, 8))

    def reshape_copy(x):
        sbuf(x).permute((0, 2, 1)).reshape((4, 12))

    with pytest.raises(NkiValidationError, match="needs a copy"):
        run(reshape_copy, rand(4, 3, 4))

    def write_bcast(x):
        nisa.memset(sbuf(x)[:, 0:1].broadcast(1, 4), 0.0)

    with pytest.raises(NkiValidationError, match="broadcast view"):
        run(write_bcast, rand(4, 8))


def test_ap_and_dtype_view():
    a = rand(4, 8)

    def k(x):
        t = sbuf(x)
        ev = t.ap(pattern=[[8, 4], [2, 4]], offset=1)  # odd columns
        bits = nl.ndarray((4, 8), nl.int32, buffer=nl.sbuf)
        nisa.tensor_copy(bits, t.view(nl.int32))
        return out(ev), out(bits)

    ev, bits = run(k, a)
    np.testing.assert_array_equal(ev, a[:, 1::2])
    np.testing.assert_array_equal(bits, a.view(np.int32))

    def beyond(x):
        sbuf(x).ap([[8, 4], [1, 9]])

    with pytest.raises(NkiValidationError, match="outside the"):
        run(beyond, a)


def test_setitem_and_hbm_views():
    a = rand(8, 8)

    def k(x):
        o = nl.ndarray((8, 8), nl.float32, buffer=nl.shared_hbm)
        t = sbuf(x)
        t[0:2, :] = 0.0
        nisa.dma_copy(dst=o[:, ::2], src=t[:, 0:4])
        nisa.dma_copy(dst=o[:, 1::2], src=t[:, 4:8])
        return o

    got = run(k, a)
    b = a.copy()
    b[0:2] = 0
    np.testing.assert_array_equal(got[:, ::2], b[:, :4])
    np.testing.assert_array_equal(got[:, 1::2], b[:, 4:])
