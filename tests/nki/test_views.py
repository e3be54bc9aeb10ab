import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiSimulatorUnsupported, NkiValidationError
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


def test_shape_compares_equal_to_lists_and_stays_a_tuple():
    def k(x):
        t = nl.ndarray((2, 2, 2), dtype=nl.float32, buffer=nl.hbm)
        y = nl.ndarray((2, 128, 1024), dtype=nl.float32, buffer=nl.hbm)
        assert t[1].shape == [2, 2]  # the indexing overview's own example
        assert y[1, :, 0:512].shape == [128, 512] and y[:, 1, 0:2].shape == [2, 2]
        s = t[1].shape
        assert [2, 2] == s and s == (2, 2) and s != [2, 3] and not (s != [2, 2]) and s != [2, 2, 1]
        assert isinstance(s, tuple) and hash(s) == hash((2, 2)) and {s: 1}[(2, 2)] == 1
        assert s + (3,) == (2, 2, 3) and s[0] == 2 and repr(s) == "(2, 2)"
        return True

    assert run(k, rand(1, 1))


def test_rearrange_documented_example_and_merges():
    a = rand(4, 24)

    def k(x):
        t = sbuf(x)
        r = t.rearrange(("b", ("h", "w")), ("b", "w", "h"), {"h": 4})  # docs: (128, 24) -> (128, 6, 4)
        back = r.rearrange(("b", "w", "h"), ("b", ("w", "h")))  # merge is not contiguous: w is inner here
        return out(r), r.shape, back

    with pytest.raises(NkiValidationError, match=r"cannot merge \('w', 'h'\)"):
        run(k, a)

    def k2(x):
        t = sbuf(x)
        r = t.rearrange(("b", ("h", "w")), ("b", "w", "h"), {"h": 4})
        m = t.rearrange(("b", ("h", "w")), ("b", ("h", "w")), {"w": -1, "h": 4})
        hb = x.rearrange((("p", "q"), "f"), ("q", "p", "f"), {"p": 2})  # HBM: any dim may move
        return out(r), r.shape, out(m), hb.shape

    r, shape, m, hb_shape = run(k2, a)
    assert shape == (4, 6, 4) and hb_shape == (2, 2, 24)
    np.testing.assert_array_equal(r, a.reshape(4, 4, 6).transpose(0, 2, 1))
    np.testing.assert_array_equal(m, a)


def test_rearrange_errors():
    for src, dst, sizes, match in [
        (("b", ("h", "w")), ("b", "w"), {"h": 4}, "name different dims"),
        (("b", ("h", "w")), ("b", "h", "w"), None, "cannot infer"),
        (("b", ("h", "w")), ("b", "h", "w"), {"h": 5}, "does not split"),
        (("b",), ("b",), None, "src_pattern has 1 dims"),
        ((("b", "c"), "f"), ("c", "b", "f"), {"b": 2}, "partition dimension"),
    ]:

        def k(x, src=src, dst=dst, sizes=sizes):
            sbuf(x).rearrange(src, dst, sizes)

        with pytest.raises(NkiValidationError, match=match):
            run(k, rand(4, 24))


def test_view_changes_element_size_and_reinterpret_cast_alias():
    a = rand(4, 8)

    def k(x):
        t = sbuf(x)
        u8 = t.view(nl.uint8)  # docs: last dim x4
        bytes_ = nl.ndarray((4, 32), nl.uint8, buffer=nl.sbuf)
        nisa.tensor_copy(bytes_, u8)
        back = bytes_.reinterpret_cast(nl.float32)  # docs: last dim /4
        f = nl.ndarray((4, 8), nl.float32, buffer=nl.sbuf)
        nisa.tensor_copy(f, back)
        half = t[:, 2:6].view(nl.bfloat16)  # a sliced view keeps its offset (in bf16 elements)
        return out(bytes_), out(f), u8.shape, back.shape, half.shape, half.offset

    b, f, s1, s2, s3, off = run(k, a)
    np.testing.assert_array_equal(b, a.view(np.uint8))
    np.testing.assert_array_equal(f, a)
    assert s1 == (4, 32) and s2 == (4, 8) and s3 == (4, 8) and off == 4

    def odd(x):
        t = nl.ndarray((4, 6), nl.uint8, buffer=nl.sbuf)
        t.view(nl.float32)

    with pytest.raises(NkiValidationError, match="not a whole number of float32"):
        run(odd, a)

    def strided(x):
        sbuf(x)[:, ::2].view(nl.uint8)

    with pytest.raises(NkiValidationError, match="last dimension must be contiguous"):
        run(strided, a)


def test_vector_select_gathers_rows_per_partition():
    # docs: hbm_t (64, 128, 8) with (128, 1) offsets -> each partition reads its own row
    g = np.random.default_rng(0)
    table = g.standard_normal((64, 16, 8)).astype(np.float32)
    rows = g.integers(0, 64, (16, 1)).astype(np.int32)

    def k(t, r):
        idx = sbuf(r)
        v = t.vector_select(0, idx)
        sel = v[:, 3, :]  # slicing / selecting the other dims keeps the indirection
        dst = nl.ndarray((16, 16, 8), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=dst, src=v)
        d2 = nl.ndarray((16, 8), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=d2, src=sel)
        flat = v.reshape((16, 128))
        d3 = nl.ndarray((16, 128), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=d3, src=flat)
        return out(dst), out(d2), out(d3), v.shape, v.is_indirect(), t.is_indirect(), sel.is_indirect()

    got, got_sel, got_flat, shape, ind, base_ind, sel_ind = run(k, table, rows)
    np.testing.assert_array_equal(got, table[rows[:, 0]])
    np.testing.assert_array_equal(got_sel, table[rows[:, 0], 3, :])
    np.testing.assert_array_equal(got_flat, table[rows[:, 0]].reshape(16, 128))
    assert shape == (16, 16, 8) and ind and sel_ind and not base_ind


def test_vector_select_rules_and_out_of_range_rows():
    table = rand(8, 4)
    rows = np.array([[1], [9], [3], [0]], np.int32)  # 9 is past the 8 rows

    def k(t, r, skip):
        dst = nl.ndarray((4, 4), nl.float32, buffer=nl.sbuf)
        nisa.memset(dst, -1.0)
        mode = nisa.oob_mode.skip if skip else nisa.oob_mode.error
        nisa.dma_copy(dst=dst, src=t.vector_select(0, sbuf(r)), oob_mode=mode)
        return out(dst)

    got = run(k, table, rows, True)
    np.testing.assert_array_equal(got[[0, 2, 3]], table[[1, 3, 0]])
    assert (got[1] == -1).all()
    with pytest.raises(NkiValidationError, match="out of bounds"):
        run(k, table, rows, False)

    for body, match in [
        (lambda t, i: t.vector_select(1, i), "dim must be 0"),
        (lambda t, i: sbuf(t).vector_select(0, i), "only HBM tensors"),
        (lambda t, i: t.vector_select(0, i).vector_select(0, i), "only one dynamic select"),
        (lambda t, i: t.vector_select(0, i)[0:2], "cannot be sliced or selected"),
        (lambda t, i: t.vector_select(0, i).permute((1, 0)), "must stay first"),
        (lambda t, i: t.vector_select(0, i).view(nl.int32), "not supported after"),
    ]:

        def kb(t, r, body=body):
            body(t, sbuf(r))

        with pytest.raises(NkiValidationError, match=match):
            run(kb, table, rows)


def test_dynamic_select_reads_the_index_at_run_time():
    data = rand(4, 8, 16)

    def k(x):
        idx = nl.ndarray((1, 1), nl.int32, buffer=nl.sbuf)
        nisa.memset(idx, 2)
        view = x.select(0, idx)  # docs: (4, 128, 8).select(0, idx) -> (128, 8)
        a = nl.ndarray((8, 16), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=a, src=view)
        nisa.memset(idx, 3)  # the same view now addresses another slice
        b = nl.ndarray((8, 4), nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=b, src=view[:, 0:4])
        return out(a), out(b), view.shape, view.is_indirect()

    a, b, shape, ind = run(k, data)
    np.testing.assert_array_equal(a, data[2])
    np.testing.assert_array_equal(b, data[3, :, 0:4])
    assert shape == (8, 16) and ind

    def onchip_part(x):
        idx = nl.ndarray((1, 1), nl.int32, buffer=nl.sbuf)
        sbuf(x[0]).select(0, idx)

    with pytest.raises(NkiValidationError, match="cannot index the partition dimension"):
        run(onchip_part, data)


def test_tensor_indirection_is_reported_unsupported():
    def k(x):
        t = sbuf(x)
        idx = nl.ndarray((4, 2), nl.uint32, buffer=nl.sbuf)
        t.indirect(idx, num_elem=8)

    with pytest.raises(NkiSimulatorUnsupported, match="NkiTensor.indirect is not supported by the CPU simulator"):
        run(k, rand(4, 8))


def test_is_contiguous_skips_partition_dim_and_unit_dims():
    def k(x):
        t = sbuf(x)  # (4, 8)
        h = nl.ndarray((4, 8), nl.float32, buffer=nl.hbm)
        return (
            t.is_contiguous(),
            t[0:2, :].is_contiguous(),  # partition slicing does not matter on chip
            t[:, 0:4].is_contiguous(),  # per-partition run of 4 elements: still contiguous per partition
            t[:, ::2].is_contiguous(),
            h[0:2, :].is_contiguous(),
            h[:, 0:4].is_contiguous(),
            h[:, 0:1].is_contiguous(),  # stride 8 on dim 0 but the inner dims hold 1 element
            h[1:2, :].expand_dim(1).is_contiguous(),  # size-1 dims are ignored
        )

    assert run(k, rand(4, 8)) == (True, True, True, False, True, False, False, True)


def test_ap_offset_defaults_to_the_views_start():
    a = rand(4, 8)

    def k(x):
        t = sbuf(x)[:, 2:6]
        same = t.ap(pattern=[[8, 4], [1, 2]])  # offset=None: inherits the view's storage offset
        moved = t.ap(pattern=[[8, 4], [1, 2]], offset=1)
        return out(same), out(moved)

    same, moved = run(k, a)
    np.testing.assert_array_equal(same, a[:, 2:4])
    np.testing.assert_array_equal(moved, a[:, 3:5])
