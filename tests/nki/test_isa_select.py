import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiSimulatorUnsupported, NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf

FP32_MIN = float(np.finfo(np.float32).min)


def test_affine_select_causal_mask():
    a = rand(8, 8)

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        # keep where p - j >= 0 (lower triangle)
        nisa.affine_select(
            d,
            pattern=[[-1, 8]],
            channel_multiplier=1,
            on_true_tile=sbuf(x),
            on_false_value=-1e9,
            cmp_op=nl.greater_equal,
        )
        return out(d)

    np.testing.assert_array_equal(run(k, a), np.where(np.tril(np.ones((8, 8), bool)), a, np.float32(-1e9)))


def test_range_select():
    a = rand(4, 10)
    lo = np.array([[1], [2], [0], [5]], np.float32)
    hi = np.array([[4], [9], [3], [6]], np.float32)

    def k(x, b0, b1):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((4, 1), nl.float32, buffer=nl.sbuf)
        nisa.range_select(
            dst=d,
            on_true_tile=sbuf(x),
            comp_op0=nl.greater_equal,
            comp_op1=nl.less,
            bound0=sbuf(b0),
            bound1=sbuf(b1),
            reduce_res=r,
        )
        return out(d), out(r)

    d, r = run(k, a, lo, hi)
    j = np.arange(10)
    mask = (j >= lo) & (j < hi)
    np.testing.assert_array_equal(d, np.where(mask, a, FP32_MIN))
    np.testing.assert_array_equal(r[:, 0], np.where(mask, a, FP32_MIN).max(1))


def test_select_reduce_and_copy_predicated():
    a = rand(4, 6)
    pred = (rand(4, 6, seed=2) > 0).astype(np.uint8)

    def k(x, p):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((4, 1), nl.float32, buffer=nl.sbuf)
        nisa.select_reduce(
            dst=d,
            predicate=sbuf(p),
            on_true=sbuf(x),
            on_false=0.0,
            reduce_res=r,
            reduce_cmd=nisa.reduce_cmd.reset_reduce,
        )
        c = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.memset(c, 7.0)
        nisa.tensor_copy_predicated(dst=c, src=sbuf(x), predicate=sbuf(p), reverse_pred=True)
        return out(d), out(r), out(c)

    d, r, c = run(k, a, pred)
    np.testing.assert_array_equal(d, np.where(pred != 0, a, 0))
    np.testing.assert_array_equal(r[:, 0], np.where(pred != 0, a, 0).max(1))
    np.testing.assert_array_equal(c, np.where(pred == 0, a, 7.0))

    def bad_pred(x, p):
        c = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.tensor_copy_predicated(dst=c, src=sbuf(x), predicate=sbuf(x))

    with pytest.raises(NkiValidationError, match="predicate must be uint8, uint16 or uint32"):
        run(bad_pred, a, pred)


def test_dropout_and_rng_are_seeded():
    a = np.ones((128, 256), np.float32)

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.dropout(d, sbuf(x), prob=0.25)
        r = nl.ndarray((4, 4), nl.uint8, buffer=nl.sbuf)
        nisa.rng(r)
        return out(d), out(r)

    d1, r1 = run(k, a)
    d2, r2 = run(k, a)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(r1, r2)
    assert set(np.unique(d1)) <= {0.0, 1.0} and 0.2 < (d1 == 0).mean() < 0.3

    def bad(x):
        d = nl.ndarray(x.shape, nl.bfloat16, buffer=nl.sbuf)
        nisa.dropout(d, sbuf(x), prob=0.5)

    with pytest.raises(NkiValidationError, match="must equal data dtype"):
        run(bad, a)


@pytest.mark.parametrize(
    "name",
    ["nc_matmul_mx", "quantize_mx", "sendrecv", "core_barrier", "set_rng_seed", "rand_set_state", "rand_get_state"],
)
def test_unsupported_raise(name):
    with pytest.raises(NkiSimulatorUnsupported, match="not supported by the CPU simulator"):
        getattr(nisa, name)(None, None)


def test_collectives_unsupported():
    import nki.collectives as cc

    with pytest.raises(NkiSimulatorUnsupported, match="not supported by the CPU simulator"):
        cc.all_reduce(None)
