"""NKI 0.6 / 0.7 / 0.8 semantics of the simulator (PORTER_NKI_VERSION), one construct per test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import nki
import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiValidationError

from .helpers import out, run, sbuf


@pytest.fixture
def version(monkeypatch):
    def use(v: str) -> None:
        monkeypatch.setenv("PORTER_NKI_VERSION", v)

    return use


def _int_tile(value: int, dtype=nl.int32):
    t = nl.ndarray((1, 1), dtype, buffer=nl.sbuf)
    nisa.memset(dst=t, value=value)
    return t


def test_default_is_newest_and_bad_version_is_named(version):
    assert nki.__version__.startswith("0.8.")
    version("0.7")
    assert nki.__version__.startswith("0.7.")
    version("0.5")
    with pytest.raises(NkiValidationError, match="PORTER_NKI_VERSION='0.5'.*0.6, 0.7, 0.8"):
        nl.affine_range(2)


@pytest.mark.parametrize("helper", ["affine_range", "sequential_range", "static_range"])
def test_static_range_helpers_are_range_and_warn_from_0_7(version, helper):
    fn = getattr(nl, helper)
    for v in ("0.7", "0.8"):
        version(v)
        with pytest.warns(DeprecationWarning, match=f"nl.{helper} is deprecated since NKI 0.7"):
            assert list(fn(1, 8, 3)) == [1, 4, 7]
    version("0.6")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(fn(3)) == [0, 1, 2]


def test_static_range_rejects_a_device_bound():
    def k(x):
        n = nisa.scalar_load(_int_tile(3))
        with pytest.warns(DeprecationWarning):
            nl.affine_range(n)

    with pytest.raises(NkiValidationError, match="nl.fori_loop"):
        run(k, np.zeros((1, 1), np.float32))


def test_dynamic_range_and_register_while_are_0_6_only(version):
    def k(x):
        r = nisa.register_alloc(2)
        trips = 0
        for _ in nl.dynamic_range(r):
            trips += 1
        while r:
            nisa.register_move(r, 0)
            trips += 10
        return trips

    version("0.6")
    with pytest.warns(DeprecationWarning):
        assert run(k, np.zeros((1, 1), np.float32)) == 12
    version("0.7")
    with pytest.raises(NkiValidationError, match="nl.dynamic_range was removed in NKI 0.7.*fori_loop"):
        run(k, np.zeros((1, 1), np.float32))

    def while_reg(x):
        r = nisa.register_alloc(1)
        while r:
            break

    with pytest.raises(NkiValidationError, match="removed in NKI 0.7.*nl.while_loop"):
        run(while_reg, np.zeros((1, 1), np.float32))


def _prefix_rows_kernel(x, n_rows):
    """Copy the first n rows (n read on the device) of x, doubled; other rows zero."""
    o = nl.ndarray(x.shape, x.dtype, buffer=nl.shared_hbm)
    zero = nl.zeros((1, x.shape[1]), x.dtype, buffer=nl.sbuf)
    for r in range(x.shape[0]):
        nisa.dma_copy(dst=o[r : r + 1, :], src=zero)
    n_sb = nl.ndarray((1, 1), nl.int32, buffer=nl.sbuf)
    nisa.dma_copy(dst=n_sb, src=n_rows)
    n = nisa.scalar_load(n_sb)

    def body(i):
        t = nl.ndarray((1, x.shape[1]), x.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=x[i : i + 1, :])
        nisa.tensor_scalar(dst=t, data=t, op0=nl.multiply, operand0=2.0)
        nisa.dma_copy(dst=o[i : i + 1, :], src=t)

    nl.fori_loop(0, n, body)
    return o


@pytest.mark.parametrize("v", ["0.7", "0.8"])
def test_fori_loop_with_a_device_bound_matches_numpy(version, v):
    version(v)
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    got = nki.simulate(nki.jit(_prefix_rows_kernel))(x, np.array([[4]], np.int32))
    want = np.where(np.arange(6)[:, None] < 4, 2 * x, 0)
    np.testing.assert_array_equal(got, want)


def test_fori_loop_index_is_a_device_value_per_version(version):
    kinds = []

    def k(x):
        nl.fori_loop(0, 2, lambda i: kinds.append(type(i).__name__))
        reg = nisa.register_alloc(2) if not nki.__version__.startswith("0.8") else None
        if reg is not None:
            nl.fori_loop(0, reg, lambda i: kinds.append(type(i).__name__))

    version("0.6")
    run(k, np.zeros((1, 1), np.float32))
    assert kinds == ["VirtualRegister"] * 4
    kinds.clear()
    version("0.7")
    run(k, np.zeros((1, 1), np.float32))
    assert kinds == ["NkiScalar", "NkiScalar", "VirtualRegister", "VirtualRegister"]


def test_fori_loop_index_supports_arithmetic_but_not_python_control_flow():
    offsets = []

    def k(x):
        nl.fori_loop(1, 3, lambda i: offsets.append((i * 128 + 1)._nki_scalar_value()))

        def branchy(i):
            if i:
                pass

        nl.fori_loop(0, 1, branchy)

    with pytest.raises(NkiValidationError, match="bool\\(\\) of an NkiScalar.*nl.if_else"):
        run(k, np.zeros((1, 1), np.float32))
    assert offsets == [129, 257]


def test_fori_loop_bounds_are_32_bit_and_step_is_static(version):
    with pytest.raises(NkiValidationError, match="does not fit in 32 bits"):
        nl.fori_loop(0, 2**31, lambda i: None)
    with pytest.raises(NkiValidationError, match="positive integer"):
        nl.fori_loop(0, 4, lambda i: None, step=0)

    def k(x):
        big = nisa.scalar_load(_int_tile(3, nl.int64))
        nl.fori_loop(0, big, lambda i: None)

    with pytest.raises(NkiValidationError, match="must be 32-bit.*int64"):
        run(k, np.zeros((1, 1), np.float32))


def test_fori_loop_unroll_is_0_7_and_needs_static_bounds(version):
    seen = []
    nl.fori_loop(0, 3, lambda i: seen.append(i._nki_scalar_value()), unroll=True)
    assert seen == [0, 1, 2]

    def k(x):
        n = nisa.scalar_load(_int_tile(3))
        nl.fori_loop(0, n, lambda i: None, unroll=True)

    with pytest.raises(NkiValidationError, match="unroll=True.*compile time"):
        run(k, np.zeros((1, 1), np.float32))
    version("0.6")
    with pytest.raises(NkiValidationError, match="added in NKI 0.7"):
        nl.fori_loop(0, 3, lambda i: None, unroll=True)


def test_while_loop_body_takes_and_returns_the_condition(version):
    def k(x):
        acc = sbuf(x)
        count = _int_tile(3)

        def body(r):
            nisa.tensor_scalar(dst=acc, data=acc, op0=nl.add, operand0=1.0)
            nisa.register_store(count, r)
            nisa.tensor_scalar(dst=count, data=count, op0=nl.subtract, operand0=1)
            nxt = nisa.register_alloc()
            nisa.register_load(nxt, count)
            return nxt

        start = nisa.register_alloc()
        nisa.register_load(start, count)
        nl.while_loop(start, body)
        return out(acc)

    x = np.zeros((2, 2), np.float32)
    for v in ("0.6", "0.7"):
        version(v)
        np.testing.assert_array_equal(run(k, x), x + 3)

    def no_return(x):
        nl.while_loop(nisa.register_alloc(1), lambda r: None)

    with pytest.raises(NkiValidationError, match="must return the next condition"):
        run(no_return, x)
    version("0.6")

    def legacy_body(x):
        r = nisa.register_alloc(2)
        calls = []

        def body():
            calls.append(1)
            nisa.register_move(r, 2 - len(calls))

        nl.while_loop(r, body)
        return len(calls)

    assert run(legacy_body, x) == 2


def _if_else_kernel(flag, data):
    flag_sb = nl.ndarray((1, 1), dtype=nl.int32, buffer=nl.sbuf)
    nisa.dma_copy(dst=flag_sb, src=flag)
    condition = nisa.scalar_load(flag_sb) > 0
    result = sbuf(data)

    def then_branch():
        nisa.tensor_scalar(dst=result, data=result, op0=nl.add, operand0=10.0)

    def else_branch():
        nisa.tensor_scalar(dst=result, data=result, op0=nl.multiply, operand0=-1.0)

    nl.if_else(condition, then_branch, else_branch)
    nl.if_else(data.shape[0] == 2, lambda: nisa.tensor_scalar(dst=result, data=result, op0=nl.add, operand0=0.5))
    return out(result)


def test_if_else_device_and_compile_time_conditions_match_numpy():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    for flag, want in ((5, data + 10.5), (0, -data + 0.5), (-3, -data + 0.5)):
        got = nki.simulate(nki.jit(_if_else_kernel))(np.array([[flag]], np.int32), data)
        np.testing.assert_array_equal(got, want)


def test_if_else_any_nonzero_scalar_selects_then():
    taken = []

    def k(x):
        for value in (-3, 0, 7):
            s = nisa.scalar_load(_int_tile(value))
            nl.if_else(s, lambda: taken.append("then"), lambda: taken.append("else"))
        nl.if_else(0, lambda: taken.append("static then"))

    run(k, np.zeros((1, 1), np.float32))
    assert taken == ["then", "else", "then"]


def test_if_else_is_0_8_and_checks_its_condition(version):
    data = np.zeros((2, 3), np.float32)
    version("0.7")
    with pytest.raises(NkiValidationError, match="nl.if_else was added in NKI 0.8"):
        nki.simulate(nki.jit(_if_else_kernel))(np.array([[1]], np.int32), data)
    version("0.8")
    with pytest.raises(NkiValidationError, match="not a VirtualRegister"):
        with pytest.warns(DeprecationWarning):
            nl.if_else(nisa.register_alloc(1), lambda: None)
    with pytest.raises(NkiValidationError, match="must not return a value"):
        nl.if_else(True, lambda: 1)

    def wide(x):
        nl.if_else(nisa.scalar_load(_int_tile(1, nl.int64)), lambda: None)

    with pytest.raises(NkiValidationError, match="32-bit"):
        run(wide, data)


def test_scalar_load_dtypes_and_nki_scalar_width(version):
    def k(x):
        s = nisa.scalar_load(_int_tile(100000))
        assert (s * 100000)._nki_scalar_value() == 1410065408  # int32 wraps, never widens
        big = nisa.scalar_load(_int_tile(100000, nl.int64))
        assert (big * 100000)._nki_scalar_value() == 10**10
        with pytest.raises(NkiValidationError, match="only \\+, - and \\*"):
            big // 2
        with pytest.raises(NkiValidationError, match="dtypes differ"):
            s + big
        with pytest.raises(NkiValidationError, match="only be the condition of nl.if_else"):
            nl.fori_loop(0, s > 1, lambda i: None)
        dst = _int_tile(0)
        nisa.scalar_store(dst, s - 7)
        with pytest.raises(NkiValidationError, match="unsigned"):
            nisa.scalar_load(_int_tile(1, nl.uint32))
        with pytest.raises(NkiValidationError, match="1x1"):
            nisa.scalar_load(nl.zeros((2, 1), nl.int32, buffer=nl.sbuf))
        return out(dst)

    assert run(k, np.zeros((1, 1), np.float32))[0, 0] == 99993
    version("0.6")
    with pytest.raises(NkiValidationError, match="nisa.scalar_load was added in NKI 0.7"):
        run(k, np.zeros((1, 1), np.float32))


def test_register_apis_deprecated_in_0_8(version):
    with pytest.warns(DeprecationWarning, match="nisa.register_alloc is deprecated since NKI 0.8"):
        nisa.register_alloc(1)
    version("0.7")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nisa.register_alloc(1)


def test_nki_object_dataclass_with_unannotated_defaults():
    @dataclass
    class Config(nl.NKIObject):
        tile = None
        scale = 1.0

    @dataclass
    class Typed(nl.NKIObject):
        rows: int = 128
        name = "t"

    cfg = Config(tile=128)
    assert (cfg.tile, cfg.scale) == (128, 1.0)
    typed = Typed(rows=64, name="q")
    assert (typed.rows, typed.name) == (64, "q")
    assert nl.NKIObject(a=1).a == 1
    with pytest.raises(TypeError, match="unexpected keyword argument.*nope"):
        Config(nope=1)


def test_block_dimensions_get_an_error_pointing_to_the_guide():
    with pytest.raises(NkiValidationError, match="block dimensions.*nki-block-dimension-migration-guide"):
        nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)

    def k(x):
        t = nl.ndarray((4, 128, 8), nl.float32, buffer=nl.sbuf)
        t[1]

    with pytest.raises(NkiValidationError, match="block dimension.*migration-guide"):
        run(k, np.zeros((1, 1), np.float32))


@pytest.mark.parametrize("v", ["0.6", "0.7", "0.8"])
def test_porters_own_kernels_run_on_every_version_without_deprecated_api(version, v):
    from kernels.device import norms, softmax

    version(v)
    x = np.random.default_rng(1).standard_normal((130, 96)).astype(np.float32)
    w = np.ones((1, 96), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        y = nki.simulate(norms.rmsnorm_kernel)(x, w)
        s = nki.simulate(softmax.softmax_kernel)(x)
    np.testing.assert_allclose(y, x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-6), rtol=1e-4, atol=1e-5)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(s, e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_nc_version_is_ordered():
    assert nisa.nc_version.gen2 < nisa.nc_version.gen3 <= nisa.get_nc_version()  # default target trn2 (gen3)
