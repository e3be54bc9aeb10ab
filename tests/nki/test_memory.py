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
        nl.ndarray((128, 1), nl.float32, buffer=nl.psum)  # 9th bank
        return tiles

    with pytest.raises(NkiOutOfMemoryError, match="PSUM bank overflow"):
        run(k, rand(1, 1))


def test_psum_tile_larger_than_psum():
    def k(x):
        nl.ndarray((128, 4097), nl.float32, buffer=nl.psum)

    with pytest.raises(NkiOutOfMemoryError, match="PSUM over capacity"):
        run(k, rand(1, 1))


def test_psum_banks_freed_when_tiles_die():
    def k(x):
        for _ in range(20):  # rebinding frees the previous tile (CPython refcounting)
            t = nl.ndarray((128, 512), nl.float32, buffer=nl.psum)
            nisa.memset(t, 0.0)
        return out(t)

    run(k, rand(1, 1))
    assert last_run_stats().peak_psum_banks == 2


@pytest.mark.parametrize("target,kib", [("trn1", 192), ("trn2", 224), ("trn3", 256)])
def test_sbuf_capacity_per_target(monkeypatch, target, kib):
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", target)
    fits = kib * 1024 // 4

    def ok(x):
        t = nl.ndarray((128, fits), nl.float32, buffer=nl.sbuf)
        del t

    run(ok, rand(1, 1))
    assert last_run_stats().peak_sbuf_partition_bytes == kib * 1024

    def too_big(x):
        a = nl.ndarray((128, fits // 2), nl.float32, buffer=nl.sbuf)
        b = nl.ndarray((128, fits // 2 + 1), nl.float32, buffer=nl.sbuf)
        return a, b

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
        return [nl.ndarray((1, 512), nl.float32, buffer=nl.psum) for _ in range(8)]

    with pytest.raises(NkiOutOfMemoryError):
        run(k, rand(1, 1))


def test_tile_size_constants(monkeypatch):
    ts = nl.tile_size
    assert (ts.pmax, ts.psum_fmax, ts.gemm_stationary_fmax, ts.gemm_moving_fmax) == (128, 512, 128, 512)
    assert ts.bn_stats_fmax == 512 and ts.psum_num_banks == 8
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn1")
    assert ts.sbuf_size_bytes == 192 * 1024
