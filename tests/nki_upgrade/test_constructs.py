"""One legacy construct per test: upgrade a minimal legacy kernel, run it on the simulator (NKI 0.8),
compare with NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import run_clean, upgrade, upgraded_module

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_imports_arange_grids_and_spmd_offsets(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl

        @nki.jit
        def add_kernel(a, b):
            c = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            ox = nl.program_id(0) * 128
            oy = nl.program_id(1) * 64
            ix = ox + nl.arange(128)[:, None]
            iy = oy + nl.arange(64)[None, :]
            at = nl.load(a[ix, iy])
            bt = nl.load(b[ix, iy])
            nl.store(c[ix, iy], value=at + bt)
            return c
    ''', tmp_path)
    assert "import nki\n" in text and "import nki.language as nl" in text and "arange" not in text
    a, b = rand(256, 128), rand(256, 128)
    np.testing.assert_allclose(run_clean(mod.add_kernel[2, 2], a, b), a + b)


def test_mgrid_and_strided_free_index(tmp_path):
    mod, text = upgraded_module('''
        from neuronxcc import nki
        import neuronxcc.nki.language as nl

        @nki.jit
        def every_other(a):
            out = nl.ndarray((128, 32), dtype=a.dtype, buffer=nl.shared_hbm)
            i_p, i_f = nl.mgrid[0:128, 0:32]
            t = nl.load(a[i_p, 2 * i_f + 1])
            nl.store(out[i_p, i_f], t)
            return out
    ''', tmp_path)
    assert "mgrid" not in text and "::2" not in text  # a step slice, written start:stop:2
    a = rand(128, 64)
    np.testing.assert_array_equal(run_clean(mod.every_other, a), a[:, 1::2])


def test_mask_on_ragged_rows_and_masked_compute(tmp_path):
    mod, _ = upgraded_module('''
        import math
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl

        @nki.jit
        def scale_rows(a, w):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            ix = nl.arange(128)[:, None]
            iy = nl.arange(a.shape[1])[None, :]
            iw = nl.arange(1)[:, None]
            w_tile = nl.load(w.reshape((1, a.shape[1]))[iw, iy])
            n = a.shape[0]
            for i in nl.affine_range(math.ceil(n / 128)):
                t = nl.load(a[i * 128 + ix, iy], mask=(i * 128 + ix < n))
                s = nl.sum(t, axis=[1])
                wb = w_tile.broadcast_to((128, a.shape[1]))
                t[...] = nl.multiply(t, wb, mask=(i * 128 + ix < n))
                r = nl.multiply(t, s)
                nl.store(out[i * 128 + ix, iy], value=r, mask=(i * 128 + ix < n))
            return out
    ''', tmp_path)
    a, w = rand(300, 16), rand(16)
    want = a * w * a.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(run_clean(mod.scale_rows, a, w), want, rtol=1e-4, atol=1e-4)


def test_mask_without_grid_becomes_an_if(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl

        @nki.jit
        def first_tiles(a, n):
            out = nl.zeros(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            for i in nl.affine_range(a.shape[0] // 128):
                t = nl.load(a[i * 128:(i + 1) * 128, :])
                nl.store(out[i * 128:(i + 1) * 128, :], t, mask=(i < n))
            return out
    ''', tmp_path)
    assert "if i < n:" in text
    a = rand(384, 8)
    got = run_clean(mod.first_tiles, a, 2)
    np.testing.assert_array_equal(got[:256], a[:256])
    np.testing.assert_array_equal(got[256:], 0)


def test_value_returning_isa_calls_get_dst(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl
        import neuronxcc.nki.isa as nisa
        import numpy as np

        @nki.jit
        def chain(a, b):
            out = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.shared_hbm)
            at = nl.load(a)
            bt = nl.load(b)
            e = nisa.activation(op=nl.exp, data=at, scale=0.5)
            s = nisa.tensor_tensor(e, bt, op=nl.add)
            m = nisa.tensor_scalar(s, np.multiply, 2.0)
            c = nisa.tensor_copy(m, dtype=nl.float32)
            r = nisa.tensor_reduce(np.add, nisa.tensor_scalar(c, np.add, 1.0), axis=[1])
            nl.store(out, r)
            return out
    ''', tmp_path)
    assert "dst=" in text and "_porter_reduced_shape" in text
    a, b = rand(128, 32), rand(128, 32)
    want = ((np.exp(0.5 * a) + b) * 2 + 1).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(run_clean(mod.chain, a, b), want, rtol=1e-4)


def test_matmul_psum_accumulation_and_transpose(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl
        import neuronxcc.nki.isa as nisa

        @nki.jit
        def matmul_t(lhs_t, rhs):
            K, M = lhs_t.shape
            _, N = rhs.shape
            out = nl.ndarray((N, M), dtype=nl.float32, buffer=nl.shared_hbm)
            acc = nl.zeros((M, N), nl.float32, buffer=nl.psum)
            for k in nl.affine_range(K // 128):
                lt = nl.load(lhs_t[k * 128:(k + 1) * 128, :])
                rt = nl.load(rhs[k * 128:(k + 1) * 128, :])
                acc += nisa.nc_matmul(lt, rt)
            res = nl.copy(acc, dtype=nl.float32)
            tr = nisa.nc_transpose(res)
            nl.store(out, nl.copy(tr))
            return out
    ''', tmp_path)
    assert "accumulate=True" in text
    lhs_t, rhs = rand(256, 64), rand(256, 96)
    np.testing.assert_allclose(run_clean(mod.matmul_t, lhs_t, rhs), (lhs_t.T @ rhs).T, rtol=1e-4, atol=1e-3)


def test_block_dimensions_become_a_list_of_tiles(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl

        @nki.jit
        def blocks(inp):
            res = nl.ndarray((4, 128, 16), dtype=inp.dtype, buffer=nl.shared_hbm)
            buf = nl.ndarray((4, nl.par_dim(128), 16), dtype=inp.dtype, buffer=nl.sbuf)
            ip, jf = nl.mgrid[0:128, 0:16]
            for i in nl.affine_range(4):
                buf[i, ip, jf] = nl.load(inp[i, ip, jf])
            for i in nl.affine_range(4):
                nl.store(res[i], nl.exp(buf[i]))
            return res
    ''', tmp_path)
    assert "par_dim" not in text and "for _ in range(4)]" in text
    x = rand(4, 128, 16)
    np.testing.assert_allclose(run_clean(mod.blocks, x), np.exp(x), rtol=1e-5)


def test_par_dim_first_and_compiler_allocators(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl
        import neuronxcc.nki.compiler as ncc
        from neuronxcc.nki.language import par_dim

        @nki.jit
        def copy_kernel(a):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            t = nl.ndarray((par_dim(128), 8), dtype=a.dtype, buffer=ncc.sbuf.mod_alloc(base_addr=0))
            t[...] = nl.load(a)
            nl.store(out, t)
            return out
    ''', tmp_path)
    assert "mod_alloc" not in text and "par_dim(" not in text.replace("import par_dim", "")
    a = rand(128, 8)
    np.testing.assert_array_equal(run_clean(mod.copy_kernel, a), a)


def test_entry_points_baremetal_simulate_kernel_and_benchmark(tmp_path):
    mod, text = upgraded_module('''
        import numpy as np
        from neuronxcc import nki
        from neuronxcc.nki import baremetal, benchmark, simulate_kernel
        import neuronxcc.nki.language as nl

        @nki.jit(mode="baremetal", platform_target="trn2")
        def neg(a):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            nl.store(out, nl.negative(nl.load(a)))
            return out

        @benchmark(warmup=2, iters=3)
        def twice(a):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            t = nl.load(a)
            nl.store(out, t + t)
            return out

        def run_all(a):
            return simulate_kernel(baremetal(neg), a), simulate_kernel(twice, a)
    ''', tmp_path, markers=2)
    assert "nki.simulate(nki.jit(neg))(a)" in text and "@nki.jit\n" in text
    assert "platform_target" not in text.split("# porter")[0]
    assert "NEURON_PLATFORM_TARGET_OVERRIDE=trn2" in text
    a = rand(128, 4)
    n, t = run_clean(mod.run_all, a)
    np.testing.assert_array_equal(n, -a)
    np.testing.assert_array_equal(t, a + a)


def test_spmd_dim_fp32_limits_finfo_static_cast(tmp_path):
    mod, text = upgraded_module('''
        import numpy as np
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl

        @nki.jit
        def clamp(a):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            i = nl.program_id(0)
            t = nl.load(a[i * 128:(i + 1) * 128, :])
            lo = nl.maximum(t, nl.fp32.min)
            hi = nl.minimum(lo, nl.finfo(nl.float32).max)
            nl.store(out[i * 128:(i + 1) * 128, :], nl.multiply(hi, 1.0, dtype=nl.fp32))
            return out

        def launch(a):
            return clamp[nl.spmd_dim(2, nl.nc(1))](nl.static_cast(a, nl.float32))
    ''', tmp_path)
    assert "3.4028234663852886e+38" in text and "spmd_dim" not in text and "nl.float32" in text
    a = rand(256, 4)
    np.testing.assert_array_equal(run_clean(mod.launch, a), a)


def test_untranslatable_sites_are_marked_and_code_still_parses():
    text, report = upgrade('''
        import neuronxcc.nki.language as nl
        import neuronxcc.nki.isa as nisa

        def k(a, idx, n):
            ip = nl.arange(128)[:, None]
            jf = nl.arange(64)[None, :]
            t = nl.load(a[ip, jf * n])
            i = nisa.iota(ip * jf, dtype=nl.int32)  # a product of axes: no iota pattern says it
            nl.loop_reduce(t, op=nl.add, loop_indices=[0])
            return t, i
    ''')
    import libcst

    libcst.parse_module(text)
    rules = sorted({m.rule for m in report.markers})
    assert rules == ["NRN706", "NRN707", "NRN709"], report.markers
    assert text.count("# porter: NRN7") == len(report.markers)


@pytest.mark.parametrize("loop", ["affine_range", "sequential_range", "static_range"])
def test_static_loop_helpers_become_range(tmp_path, loop):
    mod, text = upgraded_module(f'''
        import nki
        import nki.language as nl
        import nki.isa as nisa

        @nki.jit
        def rows(a):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            for i in nl.{loop}(a.shape[0] // 128):
                t = nl.ndarray((128, a.shape[1]), dtype=a.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=t, src=a[i * 128:(i + 1) * 128, :])
                nisa.dma_copy(dst=out[i * 128:(i + 1) * 128, :], src=t)
            return out
    ''', tmp_path)
    assert f"nl.{loop}" not in text and "in range(" in text
    a = rand(256, 8)
    np.testing.assert_array_equal(run_clean(mod.rows, a), a)


def test_nki_0_6_dynamic_range_and_register_while_become_compiled_loops(tmp_path):
    mod, text = upgraded_module('''
        import nki
        import nki.language as nl
        import nki.isa as nisa

        @nki.jit
        def count_rows(a, n_hbm):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            zero = nl.zeros((1, a.shape[1]), dtype=a.dtype, buffer=nl.sbuf)
            for r in range(a.shape[0]):
                nisa.dma_copy(dst=out[r:r + 1, :], src=zero)
            n_sb = nl.ndarray((1, 1), dtype=nl.int32, buffer=nl.sbuf)
            nisa.dma_copy(dst=n_sb, src=n_hbm)
            n = nisa.register_alloc()
            nisa.register_load(n, n_sb)
            for i in nl.dynamic_range(n):
                t = nl.ndarray((1, a.shape[1]), dtype=a.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=t, src=a[nl.ds(i, 1), :])
                nisa.dma_copy(dst=out[nl.ds(i, 1), :], src=t)
            left = nisa.register_alloc(2)
            while left:
                nisa.register_store(n_sb, left)
                nisa.tensor_scalar(dst=n_sb, data=n_sb, op0=nl.subtract, operand0=1)
                nisa.register_load(left, n_sb)
            return out
    ''', tmp_path)
    assert "nl.fori_loop(0, n, _porter_loop_body" in text and "nl.while_loop(left, _porter_while_body" in text
    a = rand(6, 4)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # register_* are deprecated in 0.8, still valid
        got = mod.count_rows(a, np.array([[3]], np.int32))
    np.testing.assert_array_equal(got[:3], a[:3])
    np.testing.assert_array_equal(got[3:], 0)


def test_dynamic_range_body_rebinding_a_name_is_marked():
    _, report = upgrade('''
        import nki.language as nl

        def k(n):
            total = 0
            for i in nl.dynamic_range(n):
                total = total + 1
            return total
    ''')
    assert [m.rule for m in report.markers] == ["NRN703"]
    assert "rebinds total" in report.markers[0].text


def test_current_code_is_left_alone():
    source = '''
        import nki
        import nki.language as nl
        import nki.isa as nisa

        @nki.jit
        def k(a):
            out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
            t = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=t, src=a)
            nisa.dma_copy(dst=out, src=t)
            return out
    '''
    text, report = upgrade(source)
    import textwrap

    assert text == textwrap.dedent(source) and not report.changes and not report.markers


def test_mgrid_object_fields_and_legacy_compiler_hints(tmp_path):
    mod, text = upgraded_module('''
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl
        import neuronxcc.nki.isa as nisa
        from neuronxcc.nki.isa.constants import oob_mode

        sb_alloc = nki.compiler.sbuf.mod_alloc

        @nki.compiler.skip_middle_end_transformations
        def stats(a):
            out = nl.ndarray((128, 2), dtype=nl.float32, buffer=nl.shared_hbm)
            g = nl.mgrid[0:128, 0:64]
            t = nl.ndarray((128, 64), dtype=nl.float32, buffer=sb_alloc(base_addr=0))
            for i in nl.affine_range(1, directives=None):
                t[...] = nl.load(a[g.p, g.x])
            s = nisa.bn_stats(t, dtype=nl.float32)
            m = nisa.bn_aggr(s)
            nl.store(out, m)
            return out
    ''', tmp_path)
    assert "mgrid" not in text and "skip_middle_end" not in text and "from nki.isa import oob_mode" in text
    a = rand(128, 64)
    got = run_clean(nki_simulate(mod.stats), a)
    np.testing.assert_allclose(got[:, 0], a.mean(axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[:, 1], a.var(axis=1), rtol=1e-3, atol=1e-5)


def nki_simulate(fn):
    import nki

    return nki.simulate(fn)


def test_transposing_store_and_affine_select_predicate(tmp_path):
    mod, text = upgraded_module('''
        import numpy as np
        import neuronxcc.nki as nki
        import neuronxcc.nki.language as nl
        import neuronxcc.nki.isa as nisa

        @nki.jit
        def causal_t(a):
            out = nl.ndarray((a.shape[1], a.shape[0]), dtype=a.dtype, buffer=nl.shared_hbm)
            rmax = nl.ndarray((a.shape[0], 1), dtype=a.dtype, buffer=nl.shared_hbm)
            ip = nl.arange(128)[:, None]
            jf = nl.arange(64)[None, :]
            t = nl.load(a[ip, jf])
            m = nisa.affine_select(pred=(ip - jf >= 0), on_true_tile=t, on_false_value=-1.0, dtype=nl.float32)
            r = nisa.tensor_reduce(np.max, data=m, axis=(1,), negate=False)
            nl.store(out[jf, ip], value=m)
            nl.store(rmax, r)
            return out, rmax
    ''', tmp_path)
    assert ".permute((1, 0))" in text and "channel_multiplier=1" in text and "op=nl.maximum" in text
    a = rand(128, 64)
    want = np.where(np.arange(128)[:, None] - np.arange(64)[None, :] >= 0, a, -1.0)
    got, r = run_clean(mod.causal_t, a)
    np.testing.assert_array_equal(got, want.T)
    np.testing.assert_array_equal(r, want.max(axis=1, keepdims=True))


def test_block_dim_tile_passed_whole_is_marked():
    text, report = upgrade('''
        import neuronxcc.nki.language as nl

        def k(a, helper):
            t = nl.ndarray((4, nl.par_dim(128), 8), dtype=nl.float32, buffer=nl.sbuf)
            t[0, :, :] = nl.load(a)
            helper(t, 1)
    ''')
    assert [m.rule for m in report.markers] == ["NRN704"]
    assert "t[0][:, :] = nl.load(a)" in text
