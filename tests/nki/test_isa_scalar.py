import math

import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError
from tests.nki.helpers import out, rand, run, sbuf

ERF = np.vectorize(math.erf)

ACTS = [
    (nl.exp, np.exp),
    (nl.tanh, np.tanh),
    (nl.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (nl.relu, lambda x: np.maximum(x, 0)),
    (nl.gelu, lambda x: 0.5 * x * (1 + ERF(x / np.sqrt(2)))),
    (nl.gelu_apprx_tanh, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    (nl.silu, lambda x: x / (1 + np.exp(-x))),
    (nl.square, np.square),
    (nl.sin, np.sin),
    (nl.erf, ERF),
    (nl.copy, lambda x: x),
    (nl.abs, np.abs),
    (nl.softplus, lambda x: np.log1p(np.exp(x))),
]


@pytest.mark.parametrize("op,ref", ACTS, ids=[a[0].__name__ for a in ACTS])
def test_activation_functions(op, ref):
    a = rand(32, 64)

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.activation(dst=d, op=op, data=sbuf(x))
        return out(d)

    np.testing.assert_allclose(run(k, a), ref(a.astype(np.float64)), rtol=2e-5, atol=2e-6)


def test_activation_scale_bias_reduce_registers():
    a, bias, scale = rand(16, 32), rand(16, 1, seed=1), rand(16, 1, seed=2)

    def k(x, b, s):
        xs = sbuf(x)
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r1 = nl.ndarray((16, 1), nl.float32, buffer=nl.sbuf)
        r2 = nl.ndarray((16, 1), nl.float32, buffer=nl.sbuf)
        nisa.activation(
            d,
            nl.exp,
            xs,
            bias=sbuf(b),
            scale=sbuf(s),
            reduce_op=nl.add,
            reduce_res=r1,
            reduce_cmd=nisa.reduce_cmd.reset_reduce,
        )
        nisa.activation(
            d,
            nl.exp,
            xs,
            bias=sbuf(b),
            scale=sbuf(s),
            reduce_op=nl.add,
            reduce_res=r2,
            reduce_cmd=nisa.reduce_cmd.reduce,
        )
        return out(d), out(r1), out(r2)

    d, r1, r2 = run(k, a, bias, scale)
    ref = np.exp(a * scale + bias)
    np.testing.assert_allclose(d, ref, rtol=1e-5)
    np.testing.assert_allclose(r1[:, 0], ref.sum(1), rtol=1e-5)
    np.testing.assert_allclose(r2[:, 0], 2 * ref.sum(1), rtol=1e-5)


def test_activation_bf16_output_and_psum_input():
    a = rand(8, 8)

    def k(x):
        p = nl.ndarray(x.shape, nl.float32, buffer=nl.psum)
        nisa.tensor_copy(p, sbuf(x))
        d = nl.ndarray(x.shape, nl.bfloat16, buffer=nl.sbuf)
        nisa.activation(d, nl.tanh, p, scale=2.0)
        return out(d)

    import ml_dtypes

    np.testing.assert_array_equal(run(k, a), np.tanh(2 * a).astype(ml_dtypes.bfloat16))


def test_activation_errors(monkeypatch):
    a = rand(8, 8)

    def bad_reduce(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.activation(d, nl.exp, sbuf(x), reduce_op=nl.maximum, reduce_cmd=nisa.reduce_cmd.reset_reduce)

    with pytest.raises(NkiValidationError, match="reduce_op must be nl.add"):
        run(bad_reduce, a)

    def not_activation(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.activation(d, nl.add, sbuf(x))

    with pytest.raises(NkiValidationError, match="not a supported activation"):
        run(not_activation, a)

    def scalar_bias(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.activation(d, nl.exp, sbuf(x), bias=1.0)
        return out(d)

    np.testing.assert_allclose(run(scalar_bias, a), np.exp(a + 1), rtol=1e-6)
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn1")
    with pytest.raises(NkiValidationError, match="NeuronCore-v3"):
        run(scalar_bias, a)


def test_activation_reduce():
    a = rand(16, 20)

    def k(x):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((16, 1), nl.float32, buffer=nl.sbuf)
        nisa.activation_reduce(d, nl.square, sbuf(x), reduce_op=nl.add, reduce_res=r)
        return out(r)

    np.testing.assert_allclose(run(k, a)[:, 0], (a * a).sum(1), rtol=1e-5)


def test_exponential_and_activate2_need_trn3(monkeypatch):
    a = rand(8, 16)
    mx = a.max(1, keepdims=True)

    def k(x, m):
        d = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((8, 1), nl.float32, buffer=nl.sbuf)
        nisa.exponential(d, sbuf(x), max_value=sbuf(m), reduce_res=r, reduce_cmd=nisa.reduce_cmd.reset_reduce)
        d2 = nl.ndarray(x.shape, nl.float32, buffer=nl.sbuf)
        nisa.activate2(d2, nl.relu, sbuf(x), imm0=2.0, imm1=0.5, op0=nl.multiply, op1=nl.add)
        return out(d), out(r), out(d2)

    with pytest.raises(NkiValidationError, match="exponential: needs NeuronCore-v4"):
        run(k, a, mx)
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn3")
    d, r, d2 = run(k, a, mx)
    np.testing.assert_allclose(d, np.exp(a - mx), rtol=1e-6)
    np.testing.assert_allclose(r[:, 0], np.exp(a - mx).sum(1), rtol=1e-5)
    np.testing.assert_allclose(d2, np.maximum(a * 2 + 0.5, 0), rtol=1e-6)
