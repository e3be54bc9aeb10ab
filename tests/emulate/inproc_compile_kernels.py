"""torch.compile(backend="neuron") and porter.kernels on the emulated device."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import porter.emulate as pe  # noqa: E402


class Branchy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = self.layer(x)
        if y.sum() > 0:  # a data-dependent branch: a graph break
            y = y * 2
        return torch.relu(y)


def test_compile_backend_counts_graphs_and_breaks_and_matches_eager():
    with pe.neuron() as state:
        model = Branchy().to("neuron")
        x = torch.randn(2, 4, device="neuron")
        expected = model(x)
        compiled = torch.compile(model, backend="neuron")
        out = compiled(x)
        assert out.device.type == "neuron" and torch.equal(out.cpu(), expected.cpu())
    assert len(state.graphs) >= 2 and state.graph_breaks
    assert all("inproc_compile_kernels.py" in g["source"] for g in state.graphs)


class Rotary(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("freq", torch.linspace(0, 1, 4))

    def forward(self, x):
        pos = torch.arange(x.size(1), dtype=torch.float32, device=x.device)  # made inside the graph
        return x * torch.outer(pos, self.freq).cos().sum(-1)


def test_a_compiled_region_that_makes_device_tensors_traces_and_matches_eager():
    # Dynamo's fake tensors for `torch.arange(..., device=x.device)` meet the wrappers' CPU tensors.
    with pe.neuron() as state:
        model = Rotary().to("neuron")
        x = torch.randn(2, 3, device="neuron")
        expected = model(x)
        out = torch.compile(model, backend="neuron")(x)
        assert out.device.type == "neuron" and torch.equal(out.cpu(), expected.cpu())
    assert len(state.graphs) == 1


def _sample(probs):  # sampling without a host sync: an in-place random fill inside the compiled region
    noise = torch.empty_like(probs).exponential_(1)
    return torch.argmax(probs / noise, dim=-1)


def test_a_compiled_region_with_an_in_place_random_op_traces_and_draws_the_eager_numbers():
    # Dynamo runs the graph on fake tensors inside the wrappers: the device's generator, handed to the
    # real op, must not reach the fake one (the refs of `exponential` take no generator).
    with pe.neuron() as state:
        probs = torch.softmax(torch.randn(3, 16), -1).to("neuron")
        torch.manual_seed(7)
        expected = _sample(probs)
        torch.manual_seed(7)
        out = torch.compile(_sample, backend="neuron", fullgraph=True)(probs)
        assert out.device.type == "neuron" and torch.equal(out.cpu(), expected.cpu())
    assert len(state.graphs) == 1


def test_compile_backend_rejects_dynamic_and_warns_on_mode():
    with pe.neuron() as state:
        model = Branchy().to("neuron")
        with pytest.raises(ValueError, match="dynamic=True"):
            torch.compile(model, backend="neuron", dynamic=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.compile(model, backend="neuron", mode="max-autotune")
    assert any("no effect" in str(w.message) for w in caught)
    assert state.compile_warnings


def test_kernels_on_neuron_tensors_run_in_the_simulator():
    pk = pytest.importorskip("porter.kernels")
    x, w = torch.randn(3, 300), torch.rand(300)
    expected = pk.rms_norm(x, w)  # CPU tensors: the PyTorch reference
    with pe.neuron() as state:
        got = pk.rms_norm(x.to("neuron"), w.to("neuron"))
    assert got.device.type == "neuron"
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-5)
    assert state.kernel_calls[("rmsnorm", "NKI simulator")] == 1
    assert state.kernel_stats["rmsnorm"]["instructions"] > 0


def test_an_nki_kernel_reads_and_writes_neuron_tensors_in_place():
    """On the emulated device `import nki` works as on a Neuron machine (the simulator stands in for the
    SDK) and a kernel called with `neuron` tensors works on their storage (a Triton kernel's verified
    translation, dispatched by `porter port --verify`, writes its outputs this way); an output it makes
    is a `neuron` tensor, and the run report counts the calls."""
    import sys

    from porter.nki import real_nki_available

    with pe.neuron() as state:
        import nki
        import nki.isa as nisa
        import nki.language as nl

        @nki.jit
        def double_into(x, out):
            tile = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=tile, src=x)
            doubled = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.sbuf)
            nisa.tensor_tensor(dst=doubled, data1=tile, data2=tile, op=nl.add)
            nisa.dma_copy(dst=out, src=doubled)

        @nki.jit
        def doubled(x):
            out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
            tile = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=tile, src=x)
            nisa.tensor_tensor(dst=tile, data1=tile, data2=tile, op=nl.add)
            nisa.dma_copy(dst=out, src=tile)
            return out

        x = torch.randn(4, 8, device="neuron")
        out = torch.zeros(4, 8, device="neuron")
        double_into(x, out)
        assert out.device.type == "neuron"
        torch.testing.assert_close(out.cpu(), x.cpu() * 2)
        new = doubled(x)  # a kernel's own output tensor lives on the device it was called on
        assert new.device.type == "neuron"
        torch.testing.assert_close((new - out).cpu(), torch.zeros(4, 8))
    assert state.kernel_calls[("double_into", "NKI simulator")] == 1  # the report counts them
    assert state.kernel_calls[("doubled", "NKI simulator")] == 1
    assert state.kernel_stats["double_into"]["instructions"] > 0
    if not real_nki_available():
        assert "nki" not in sys.modules  # the simulator leaves with the device it stood in for
