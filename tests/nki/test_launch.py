import nki
import nki.isa as nisa
import nki.language as nl
import numpy as np
import pytest
import torch

from porter.nki import NkiValidationError, last_run_stats
from tests.nki.helpers import out, rand, sbuf


@nki.jit
def double(x):
    return out(nl.multiply(sbuf(x), 2.0))


@nki.jit()
def double_with_args(x):
    return out(nl.multiply(sbuf(x), 2.0))


def test_jit_forms_and_simulate():
    a = rand(8, 8)
    np.testing.assert_array_equal(double(a), 2 * a)
    np.testing.assert_array_equal(double_with_args(a), 2 * a)
    np.testing.assert_array_equal(nki.simulate(double)(a), 2 * a)
    np.testing.assert_array_equal(nki.simulate(double.fn)(a), 2 * a)
    assert double.__name__ == "double"


def test_platform_target_rejected():
    # NKI 0.3 update guide: passing platform_target raises; the target comes from the environment.
    with pytest.raises(NkiValidationError, match="set the environment variable NEURON_PLATFORM_TARGET_OVERRIDE=trn1"):
        nki.jit(platform_target="trn1")
    with pytest.raises(NkiValidationError, match="removed in NKI 0.3"):

        @nki.jit(platform_target="trn2")
        def k(a):
            return a


@pytest.mark.parametrize(
    "tdtype", [torch.float32, torch.bfloat16, torch.float16, torch.int32, torch.int8, torch.float8_e5m2]
)
def test_torch_in_torch_out(tdtype):
    x = (torch.arange(32).reshape(4, 8) - 8).to(tdtype)

    @nki.jit
    def ident(t):
        return out(sbuf(t))

    got = nki.simulate(ident)(x)
    assert isinstance(got, torch.Tensor) and got.dtype == tdtype
    assert torch.equal(got, x)


def test_torch_input_updated_in_place():
    x = torch.zeros(4, 4)

    @nki.jit
    def fill(t):
        v = nl.ndarray((4, 4), nl.float32, buffer=nl.sbuf)
        nisa.memset(v, 3.0)
        nisa.dma_copy(dst=t, src=v)

    fill(x)
    assert (x == 3).all()


def test_numpy_copied_input_written_back():
    x = np.zeros((4, 4), np.float32)[:, ::1].T  # non-contiguous -> copied, then written back

    @nki.jit
    def fill(t):
        v = nl.full((4, 4), 5.0, nl.float32)
        nisa.dma_copy(dst=t, src=v)

    fill(x)
    assert (x == 5).all()


def test_returned_structures_and_scalars():
    @nki.jit
    def many(x):
        t = sbuf(x)
        return {"a": out(t), "b": [out(t), 3]}

    got = many(rand(2, 2))
    assert set(got) == {"a", "b"} and isinstance(got["b"][0], np.ndarray) and got["b"][1] == 3


def test_returning_onchip_tile_is_an_error():
    @nki.jit
    def bad(x):
        return sbuf(x)

    with pytest.raises(NkiValidationError, match="outputs must be HBM tensors"):
        bad(rand(2, 2))


def test_spmd_private_output_rejected():
    @nki.jit
    def k(x):
        o = nl.ndarray(x.shape, x.dtype, buffer=nl.private_hbm)
        nisa.dma_copy(dst=o, src=sbuf(x))
        return o

    k(rand(2, 2))  # a single instance may return hbm/private_hbm
    with pytest.raises(NkiValidationError, match="shared_hbm"):
        k[2](rand(2, 2))


def test_spmd_program_ids_and_grid_errors():
    @nki.jit
    def k(x):
        o = nl.ndarray((3, 1), nl.float32, buffer=nl.shared_hbm)
        v = nl.full((1, 1), float(nl.program_id(0)), nl.float32)
        nl.store(o[nl.program_id(0) : nl.program_id(0) + 1, :], v)
        return o

    np.testing.assert_array_equal(k[3](rand(1, 1))[:, 0], [0, 1, 2])
    assert last_run_stats().instances == 3
    with pytest.raises(NkiValidationError, match=">= 1"):
        k[0]
    with pytest.raises(NkiValidationError, match="out of range"):
        nki.jit(lambda x: nl.program_id(1))(rand(1, 1))


def test_stats_instance_attached_to_kernel():
    double(rand(4, 4))
    s = double.last_stats
    assert s.instructions["dma"] == 2 and s.instructions["vector"] == 1 and s.ops["nl.multiply"] == 1


def test_nki_typing_annotations():
    import nki.typing as nt

    @nki.jit
    def k(x: nt.tensor[4, 4]):
        return out(sbuf(x))

    assert repr(nt.tensor[128, 512]) == "nt.tensor[128, 512]"
    np.testing.assert_array_equal(k(np.ones((4, 4), np.float32)), 1)
