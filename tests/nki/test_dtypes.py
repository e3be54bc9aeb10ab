import ml_dtypes
import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError, dtypes
from tests.nki.helpers import out, rand, run, sbuf


@pytest.mark.parametrize(
    "name,np_type",
    [
        ("bfloat16", ml_dtypes.bfloat16),
        ("float16", np.float16),
        ("float8_e4m3", ml_dtypes.float8_e4m3),
        ("float8_e4m3fn", ml_dtypes.float8_e4m3fn),
        ("float8_e5m2", ml_dtypes.float8_e5m2),
    ],
)
def test_low_precision_round_to_nearest_even(name, np_type):
    x = rand(32, 16)

    def k(a):
        t = nl.ndarray(a.shape, getattr(nl, name), buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=a)  # fp32 -> low precision
        return out(t)

    got = run(k, x)
    np.testing.assert_array_equal(got.astype(np.float32), x.astype(np_type).astype(np.float32))


def test_tfloat32_keeps_10_mantissa_bits():
    x = np.array([[1 + 2**-11, 1 + 2**-10 + 2**-11, 1 + 2**-12]], dtype=np.float32)
    got = dtypes.cast(x, "tfloat32")
    np.testing.assert_array_equal(got, np.array([[1.0, 1 + 2**-9, 1.0]], dtype=np.float32))


def test_int_types_and_bool():
    def k(a):
        t = nl.ndarray(a.shape, nl.int8, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=a)
        b = nl.ndarray(a.shape, nl.bool_, buffer=nl.sbuf)
        nisa.tensor_copy(dst=b, src=t)
        u = nl.ndarray(a.shape, nl.uint16, buffer=nl.sbuf)
        nisa.tensor_copy(dst=u, src=t)
        return out(t), out(b), out(u)

    x = np.array([[1.4, 2.5, -300.0, 0.0]], dtype=np.float32)
    i8, b, u16 = run(k, x)
    np.testing.assert_array_equal(i8, [[1, 2, -128, 0]])  # round half even, saturate
    np.testing.assert_array_equal(b, [[True, True, True, False]])
    np.testing.assert_array_equal(u16, [[1, 2, 0, 0]])


@pytest.mark.parametrize("bad", [np.float64, np.int64])
def test_64_bit_inputs_rejected(bad, monkeypatch):
    monkeypatch.setenv("PORTER_NKI_VERSION", "0.6")  # nl.int64 exists from NKI 0.7
    with pytest.raises(NkiValidationError, match="not supported"):
        run(lambda a: None, np.zeros((2, 2), dtype=bad))


def test_64_bit_dtype_rejected_in_kernel(monkeypatch):
    monkeypatch.setenv("PORTER_NKI_VERSION", "0.6")

    def k(a):
        nl.ndarray((2, 2), "int64", buffer=nl.sbuf)

    with pytest.raises(NkiValidationError, match="no 64-bit types"):
        run(k, rand(1, 1))


def test_packed_mx_dtype_rejected():
    with pytest.raises(NkiValidationError, match="not supported by the CPU simulator"):
        run(lambda a: nl.ndarray((2, 2), nl.float8_e5m2_x4, buffer=nl.sbuf), rand(1, 1))


def test_precise_fp_off_stores_fp32(monkeypatch):
    monkeypatch.setenv("NKI_PRECISE_FP", "0")
    x = np.array([[1 + 2**-12]], dtype=np.float32)

    def k(a):
        t = nl.ndarray(a.shape, nl.bfloat16, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=a)
        return out(t)

    got = run(k, x)
    assert got.dtype == np.float32 and got[0, 0] == x[0, 0]
    monkeypatch.setenv("NKI_PRECISE_FP", "1")
    assert run(k, x)[0, 0] == 1.0


def test_promotion_rules():
    p = dtypes.promote
    assert p("float16", "bfloat16") == "float32"
    assert p("float8_e4m3", "float8_e5m2") == "bfloat16"
    assert p("int8", "uint8") == "int16"
    assert p("int32", "uint32") == "float32"
    assert p("int32", "bfloat16") == "bfloat16"
    assert p("float32", "bfloat16") == "float32"


def test_dma_dtype_conversion_goes_through_fp32():
    def k(a):
        t = sbuf(a, nl.bfloat16)
        i = nl.ndarray(a.shape, nl.int32, buffer=nl.sbuf)
        nisa.dma_copy(dst=i, src=t)
        return out(i)

    x = np.array([[2.7, -1.5, 1000.4]], dtype=np.float32)
    np.testing.assert_array_equal(run(k, x), [[3, -2, 1000]])
