import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest

from porter.nki import NkiOutOfMemoryError, NkiValidationError, last_run_stats
from tests.nki.helpers import out, rand, run, sbuf


def test_partition_over_128_is_rejected():
    def k(x):
        nl.ndarray((256, 512), nl.float32, buffer=nl.sbuf)

    with pytest.raises(NkiValidationError, match="partition dimension 256 exceeds maximum 128"):
        run(k, rand(1, 1))


def test_psum_bank_overflow():
    def k(x):
        tiles = [nl.ndarray((128, 512), nl.float32, buffer=nl.psum) for _ in range(8)]
        for t in tiles:
            nisa.memset(t, 0.0)
        ninth = nl.ndarray((128, 1), nl.float32, buffer=nl.psum)  # 9th bank while all 8 are still needed
        nisa.memset(ninth, 0.0)
        for t in tiles:
            nisa.memset(t, 1.0)  # this later use proves the 8 tiles were live when `ninth` was allocated

    with pytest.raises(NkiOutOfMemoryError, match=r"PSUM bank overflow: 9 banks .* 8 usable") as exc:
        run(k, rand(1, 1))
    assert "test_memory.py" in str(exc.value)  # the report names where the live tiles were allocated


def test_tiles_held_by_python_but_never_used_again_are_dead():
    def k(x):
        tiles = [nl.ndarray((128, 512), nl.float32, buffer=nl.psum) for _ in range(8)]
        for t in tiles:
            nisa.memset(t, 0.0)
        ninth = nl.ndarray((128, 1), nl.float32, buffer=nl.psum)  # fits: the list is never used again
        nisa.memset(ninth, 0.0)
        return out(ninth)

    run(k, rand(1, 1))
    # Each tile lives from its first access to its last: here its one memset, so one bank at a time.
    assert last_run_stats().peak_psum_banks == 1


def test_psum_tile_larger_than_psum():
    def k(x):
        nl.ndarray((128, 4097), nl.float32, buffer=nl.psum)

    with pytest.raises(NkiOutOfMemoryError, match="PSUM over capacity"):
        run(k, rand(1, 1))


def test_psum_tile_declared_in_a_loop_occupies_one_slot():
    def k(x):
        for _ in range(20):  # each iteration's tile dies at its last use, before the next is allocated
            t = nl.ndarray((128, 512), nl.float32, buffer=nl.psum)
            nisa.memset(t, 0.0)
        return out(t)

    run(k, rand(1, 1))
    assert last_run_stats().peak_psum_banks == 1


@pytest.mark.parametrize("target,kib", [("trn1", 192), ("trn2", 224), ("trn3", 256)])
def test_sbuf_capacity_per_target(monkeypatch, target, kib):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", target)
    fits = kib * 1024 // 4

    def ok(x):
        t = nl.ndarray((128, fits), nl.float32, buffer=nl.sbuf)
        nisa.memset(t, 0.0)  # a tile occupies SBUF from its first access

    run(ok, rand(1, 1))
    assert last_run_stats().peak_sbuf_partition_bytes == kib * 1024

    def too_big(x):
        a = nl.ndarray((128, fits // 2), nl.float32, buffer=nl.sbuf)
        nisa.memset(a, 0.0)
        b = nl.ndarray((128, fits // 2 + 1), nl.float32, buffer=nl.sbuf)
        nisa.memset(b, 0.0)
        nisa.memset(a, 1.0)  # a is still needed after b was allocated

    with pytest.raises(NkiOutOfMemoryError, match=f"SBUF over capacity.*{kib} KiB per partition"):
        run(too_big, rand(1, 1))


def test_gen_aliases_and_bad_target(monkeypatch):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "gen4")
    assert run(lambda x: nisa.get_nc_version(), rand(1, 1)) == nisa.nc_version.gen4
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn9")
    with pytest.raises(NkiValidationError, match="not a known target"):
        run(lambda x: None, rand(1, 1))


def test_uninitialised_read_gives_nan():
    def k(x):
        t = nl.ndarray((128, 16), nl.float32, buffer=nl.sbuf)
        nisa.memset(t[:, 0:8], 1.0)  # half written
        return out(t)

    got = run(k, rand(1, 1))
    assert (got[:, :8] == 1).all() and np.isnan(got[:, 8:]).all()


def test_uninitialised_int_sentinel_is_4():
    def k(x):
        return out(nl.ndarray((4, 4), nl.int32, buffer=nl.sbuf))

    assert (run(k, rand(1, 1)) == 4).all()


def test_nan_propagates_through_compute():
    def k(x):
        t = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        r = nl.ndarray((8, 8), nl.float32, buffer=nl.sbuf)
        nisa.activation(dst=r, op=nl.exp, data=t)
        return out(r)

    assert np.isnan(run(k, rand(1, 1))).all()


def test_stats_peaks_and_bytes():
    def k(x):
        a = sbuf(x)
        p = nl.ndarray((128, 512), nl.float32, buffer=nl.psum)
        nisa.memset(p, 0.0)
        return out(a)

    x = rand(128, 256)
    run(k, x)
    s = last_run_stats()
    assert s.peak_sbuf_partition_bytes >= 1024 and s.peak_psum_bytes == 128 * 2048
    assert s.hbm_to_sbuf_bytes == x.nbytes and s.sbuf_to_hbm_bytes == x.nbytes
    assert s.as_dict()["instructions"]["dma"] == 2 and s.total_instructions >= 3


def test_psum_num_banks_reserved(monkeypatch):
    monkeypatch.setenv("NKI_DMA_TRANSPOSE_AS_PE_TRANSPOSE", "true")
    assert nl.tile_size.psum_num_banks == 7

    def k(x):
        tiles = [nl.ndarray((1, 512), nl.float32, buffer=nl.psum) for _ in range(8)]
        for t in tiles:
            nisa.memset(t, 0.0)
        for t in tiles:  # all eight are needed again: they were live at once
            nisa.memset(t, 1.0)

    with pytest.raises(NkiOutOfMemoryError, match="8 banks .* 7 usable"):
        run(k, rand(1, 1))


def test_tile_size_constants(monkeypatch):
    ts = nl.tile_size
    assert (ts.pmax, ts.psum_fmax, ts.gemm_stationary_fmax, ts.gemm_moving_fmax) == (128, 512, 128, 512)
    assert (ts.psum_bank_fmax, ts.psum_bank_fmax_bytes, ts.psum_fmax_bytes) == (512, 2048, 2048)
    assert ts.bn_stats_fmax == 512 and ts.psum_num_banks == 8
    assert (ts.psum_min_align, ts.sbuf_min_align) == (4, 4)


@pytest.mark.parametrize(
    "target,kib,usable",
    [("trn1", 192, 192 * 1024 - 16384), ("trn2", 224, 224 * 1024 - 16392), ("trn3", 256, 256 * 1024 - 16392)],
)
def test_tile_size_sbuf_sizes_per_target(monkeypatch, target, kib, usable):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", target)
    ts = nl.tile_size
    assert ts.sbuf_size_bytes == 128 * kib * 1024  # total over all partitions (29,360,128 on trn2)
    assert ts.sbuf_fmax_bytes == ts.total_available_sbuf_size == usable  # usable bytes per partition
    assert ts.sbuf_fmax == usable // 4
    assert (ts.sbuf_fmax_bytes, ts.sbuf_fmax) == {
        "trn1": (180224, 45056),
        "trn2": (212984, 53246),
        "trn3": (245752, 61438),
    }[target]


def test_sbuf_tiles_declared_in_a_loop_reuse_their_slots():
    # Review repro k10: two 100 KiB-per-partition tiles per iteration fit trn2's 224 KiB.
    def row_exp(x):
        n, d = x.shape
        res = nl.ndarray((n, d), dtype=x.dtype, buffer=nl.shared_hbm)
        for i in range(n // 128):
            t = nl.ndarray((128, d), dtype=x.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=t, src=x[i * 128 : (i + 1) * 128, :])
            e = nl.ndarray((128, d), dtype=x.dtype, buffer=nl.sbuf)
            nisa.activation(dst=e, op=nl.exp, data=t)
            nisa.dma_copy(dst=res[i * 128 : (i + 1) * 128, :], src=e)
        return res

    x = np.zeros((256, 25600), np.float32)
    got = run(row_exp, x)
    assert (got == 1).all()
    assert last_run_stats().peak_sbuf_partition_bytes == 2 * 25600 * 4


def test_psum_tiles_declared_in_a_loop_reuse_their_banks():
    # Review repro k11: per iteration a 4-bank scores tile, a 1-bank output and 1-bank transposes.
    def scores_then_pv(q_t, k, v):
        res = nl.ndarray((256, 128), dtype=nl.float32, buffer=nl.shared_hbm)
        q_sb = nl.load(q_t)
        k_sb = nl.load(k)
        for blk in range(2):
            s_ps = nl.ndarray((128, 2048), dtype=nl.float32, buffer=nl.psum)
            for j in range(4):
                nisa.nc_matmul(
                    dst=s_ps[:, j * 512 : (j + 1) * 512], stationary=q_sb, moving=k_sb[:, j * 512 : (j + 1) * 512]
                )
            s_sb = nl.ndarray((128, 2048), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_copy(dst=s_sb, src=s_ps)
            o_ps = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.psum)
            for j in range(16):
                pt_ps = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.psum)
                nisa.nc_transpose(dst=pt_ps, data=s_sb[:, j * 128 : (j + 1) * 128])
                pt = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.sbuf)
                nisa.tensor_copy(dst=pt, src=pt_ps)
                v_sb = nl.load(v[j * 128 : (j + 1) * 128, :])
                nisa.nc_matmul(dst=o_ps, stationary=pt, moving=v_sb)
            o_sb = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_copy(dst=o_sb, src=o_ps)
            nl.store(res[blk * 128 : (blk + 1) * 128, :], o_sb)
        return res

    g = np.random.default_rng(0)
    q_t, k, v = (g.standard_normal(s).astype(np.float32) * 0.1 for s in ((128, 128), (128, 2048), (2048, 128)))
    got = run(scores_then_pv, q_t, k, v)
    ref = (q_t.T @ k) @ v
    np.testing.assert_allclose(got[:128], ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(got[128:], ref, rtol=1e-3, atol=1e-4)
    assert last_run_stats().peak_psum_banks <= 8


def test_tiles_kept_across_loop_iterations_still_overflow():
    def k(x):
        keep = []
        for _ in range(3):
            t = nl.ndarray((128, 25600), nl.float32, buffer=nl.sbuf)  # 100 KiB per partition each
            nisa.memset(t, 0.0)
            keep.append(t)
        for t in keep:  # all three are needed at the end: 300 KiB > 224 KiB
            nisa.memset(t, 1.0)

    with pytest.raises(
        NkiOutOfMemoryError, match=r"SBUF over capacity: 307200 bytes per partition .* 229376 available"
    ):
        run(k, rand(1, 1))


def test_tiles_returned_by_a_helper_in_a_loop_fit():
    def k(x):
        acc = nl.ndarray((128, 1), nl.float32, buffer=nl.sbuf)
        nisa.memset(acc, 0.0)
        for _ in range(4):
            t = sbuf(x)  # helper allocates 120 KiB per partition; the previous t is dead by now
            r = nl.ndarray((128, 1), nl.float32, buffer=nl.sbuf)
            nisa.tensor_reduce(dst=r, op=nl.add, data=t, axis=1)
            nisa.tensor_tensor(dst=acc, data1=acc, data2=r, op=nl.add)
        return out(acc)

    x = np.ones((128, 30720), np.float32)
    np.testing.assert_array_equal(run(k, x), np.full((128, 1), 4 * 30720, np.float32))


def test_single_tile_larger_than_sbuf_fails_at_allocation():
    def k(x):
        nl.ndarray((128, 224 * 1024 // 4 + 1), nl.float32, buffer=nl.sbuf)

    with pytest.raises(NkiOutOfMemoryError, match="SBUF over capacity: 229380 bytes per partition"):
        run(k, rand(1, 1))


def test_tiles_declared_up_front_occupy_memory_from_their_first_use():
    # nki.compiler.Allocation: a tile gets its address at its first write and loses it after its
    # last read. Sixteen PSUM tiles declared at once, each used in its own iteration, fit 8 banks.
    def k(x):
        tiles = [nl.ndarray((128, 512), nl.float32, buffer=nl.psum) for _ in range(16)]
        acc = nl.ndarray((128, 512), nl.float32, buffer=nl.sbuf)
        nisa.memset(acc, 0.0)
        for t in tiles:
            nisa.memset(t, 1.0)
            nisa.tensor_tensor(dst=acc, data1=acc, data2=t, op=nl.add)
        return out(acc)

    np.testing.assert_array_equal(run(k, rand(1, 1)), np.full((128, 512), 16.0, np.float32))
    assert last_run_stats().peak_psum_banks == 1
