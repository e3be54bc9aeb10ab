"""The emulated neuron device: tensors, modules, autograd, optimizers, RNG, save/load, op verdicts."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

import porter.emulate as pe  # noqa: E402
from porter.emulate.neuron_device.tensor import NeuronOpError  # noqa: E402


def test_factories_modules_autograd_and_optimizer():
    with pe.neuron() as state:
        assert torch.neuron.is_available() and torch.accelerator.current_accelerator().type == "neuron"
        x = torch.randn(4, 8, device="neuron")
        assert x.device.type == "neuron"
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 2)).to("neuron")
        assert all(p.device.type == "neuron" for p in model.parameters())
        before = model[0].weight.detach().cpu().clone()
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        model(x).pow(2).mean().backward()
        assert model[0].weight.grad.device.type == "neuron"
        opt.step()
        assert not torch.equal(model[0].weight.detach().cpu(), before)
        assert x.cpu().device.type == "cpu" and x.to("cpu", non_blocking=True).device.type == "cpu"
    assert not torch.neuron.is_available()
    assert state.by_verdict().get("Y", 0) > 10


def test_results_equal_cpu_bitwise():
    torch.manual_seed(0)
    a, b = torch.randn(5, 7), torch.randn(7, 3)
    expected = torch.nn.functional.gelu(a @ b).softmax(-1)
    with pe.neuron():
        got = torch.nn.functional.gelu(a.to("neuron") @ b.to("neuron")).softmax(-1)
        assert got.device.type == "neuron"
        assert torch.equal(got.cpu(), expected)


def test_mixed_devices_raise_like_a_device():
    with pe.neuron():
        x = torch.ones(3, device="neuron")
        with pytest.raises(RuntimeError, match="same device"):
            x + torch.ones(3)
        assert (x + torch.tensor(1.0)).device.type == "neuron"  # a 0-dim CPU scalar is fine, as on CUDA


def test_device_rng_is_its_own_stream_and_generators_work():
    with pe.neuron():
        torch.manual_seed(0)
        cpu_first = torch.rand(3)
        torch.manual_seed(0)
        torch.neuron.manual_seed(7)
        a = torch.rand(3, device="neuron")
        assert torch.equal(torch.rand(3), cpu_first)  # the device draw did not consume the CPU stream
        torch.neuron.manual_seed(7)
        assert torch.equal(torch.rand(3, device="neuron").cpu(), a.cpu())
        gen = torch.Generator(device="neuron")
        assert gen.device.type == "neuron" and isinstance(gen, torch.Generator)
        gen.manual_seed(3)
        first = torch.randn(4, device="neuron", generator=gen)
        gen.manual_seed(3)
        assert torch.equal(torch.randn(4, device="neuron", generator=gen).cpu(), first.cpu())


def test_save_load_map_location_and_state_dict():
    with pe.neuron():
        model = torch.nn.Linear(3, 2).to("neuron")
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        on_cpu = torch.load(buffer, map_location="cpu")
        assert on_cpu["weight"].device.type == "cpu"
        buffer.seek(0)
        on_device = torch.load(buffer)
        assert on_device["weight"].device.type == "neuron"
        fresh = torch.nn.Linear(3, 2).to("neuron")
        fresh.load_state_dict(on_cpu)
        assert torch.equal(fresh.weight.detach().cpu(), model.weight.detach().cpu())
        assert fresh.weight.device.type == "neuron"


def test_autocast_bf16_follows_the_cuda_lists():
    with pe.neuron() as state:
        layer = torch.nn.Linear(8, 8).to("neuron")
        x = torch.randn(2, 8, device="neuron")
        with torch.autocast("neuron", dtype=torch.bfloat16):
            y = layer(x)
            assert y.dtype == torch.bfloat16  # linear: lower precision
            assert torch.softmax(y, -1).dtype == torch.float32  # softmax: kept in fp32
            assert torch.nn.functional.layer_norm(y, (8,)).dtype == torch.float32
            assert (y + y).dtype == torch.bfloat16  # anything else: its inputs' dtype
        y.float().sum().backward()
        assert layer.weight.grad.dtype == torch.float32
    assert state.autocast_casts[("linear", "bfloat16")] >= 1
    assert state.autocast_casts[("softmax", "float32")] >= 1


def test_autocast_lists_are_the_cuda_registrations():
    # Every op CUDA's autocast registers, and no other: `cross_entropy_loss` has no CUDA autocast kernel
    # (only a CPU one), so under autocast it runs as log_softmax in the input's dtype, then nll_loss in fp32.
    from porter.emulate.neuron_device import autocast as ac

    registered = {r.removeprefix("aten::").split(".")[0]
                  for r in torch._C._dispatch_get_registrations_for_dispatch_key("AutocastCUDA")
                  if r.startswith("aten::")}
    assert set(ac.LOWER) | set(ac.FP32) | set(ac.PROMOTE) | set(ac.BANNED) == registered
    torch.manual_seed(0)
    logits, target = torch.randn(8, 5).half(), torch.randint(0, 5, (8,))
    expected = torch.nn.functional.nll_loss(torch.log_softmax(logits, 1, dtype=torch.float16).float(), target)
    image = torch.randn(1, 2, 4, 4).half()
    with pe.neuron() as state:
        with torch.autocast("neuron", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(logits.to("neuron"), target.to("neuron"))
            assert loss.dtype == torch.float32 and torch.equal(loss.cpu(), expected)
            # the dtype cross_entropy_loss names for its log_softmax, by position, is kept: no fp32 cast
            assert state.autocast_casts[("nll_loss", "float32")] == 1
            assert ("log_softmax", "float32") not in state.autocast_casts
            up = torch.nn.functional.interpolate(image.to("neuron"), scale_factor=2, mode="bilinear")
            assert up.dtype == torch.float32  # upsampling and rms_norm: fp32, as on CUDA
            assert torch.nn.functional.rms_norm(image.to("neuron"), (4,)).dtype == torch.float32
            probs = torch.sigmoid(image.to("neuron"))
            with pytest.raises(RuntimeError, match="unsafe to autocast"):
                torch.nn.functional.binary_cross_entropy(probs, probs.detach())


def test_grad_scaler_and_memory_stats():
    with pe.neuron():
        scaler = torch.amp.GradScaler("neuron")
        w = torch.nn.Parameter(torch.ones(1024, device="neuron"))
        opt = torch.optim.SGD([w], lr=0.1)
        scaler.scale(w.sum()).backward()
        scaler.step(opt)
        scaler.update()
        assert w.detach().cpu()[0].item() == pytest.approx(0.9)
        assert torch.neuron.max_memory_allocated() >= 1024 * 4
        assert torch.neuron.memory_allocated() <= torch.neuron.max_memory_allocated()


def test_fallback_counted_with_source_and_strict_raises():
    with pe.neuron() as state:
        torch.sort(torch.randn(5, device="neuron"))  # the sort line
    record = state.ops["sort"]
    assert record.verdict == "CPU_FALLBACK" and record.count == 1
    assert any("inproc_neuron_device.py" in s for s in record.sources)
    with pe.neuron(strict=True):
        with pytest.raises(NeuronOpError, match="strict"):
            torch.sort(torch.randn(5, device="neuron"))


def test_op_marked_n_raises():
    with pe.neuron():
        with pytest.raises(NeuronOpError, match="int_repr"):
            torch.ops.aten.int_repr(torch.ones(2, device="neuron"))


def test_dataloader_pin_memory():
    data = torch.utils.data.TensorDataset(torch.arange(8.0).reshape(4, 2))
    with pe.neuron():
        loader = torch.utils.data.DataLoader(data, batch_size=2, pin_memory=True)
        batches = [b.to("neuron", non_blocking=True) for (b,) in loader]
        assert [b.device.type for b in batches] == ["neuron", "neuron"]
        assert torch.equal(torch.cat([b.cpu() for b in batches]), data.tensors[0])


def test_op_missing_from_the_table_is_reported_unknown_and_still_runs():
    with pe.neuron() as state:
        probs = torch.tensor([[0.0, 1.0]], device="neuron")
        picked = torch.multinomial(probs, 1)  # no entry in the operator table
        assert picked.device.type == "neuron" and picked.cpu().item() == 1
    record = state.ops["multinomial"]
    assert record.verdict == "unknown" and any("inproc_neuron_device.py" in s for s in record.sources)


def test_ops_that_resize_their_output_give_the_device_tensor_its_new_shape():
    # torch.arange(n, device=...) fills an empty tensor through arange.out, which resizes it.
    with pe.neuron():
        t = torch.arange(10, dtype=torch.float32, device="neuron")
        assert t.shape == (10,) and t.stride() == (1,)
        assert torch.outer(t, torch.arange(0, 8, 2, device="neuron").float()).shape == (10, 4)
        out = torch.empty(0, device="neuron")
        torch.cat([t, t], out=out)
        assert out.shape == (20,) and torch.equal(out.cpu(), torch.arange(10.0).repeat(2))
        grown = torch.zeros(2, 3, device="neuron").resize_(3, 4)
        assert grown.shape == (3, 4) and grown.stride() == (4, 1)


def test_random_ops_without_a_generator_argument_draw_from_the_device_stream():
    # randn_like and dropout take no generator: they must still use the device's stream, so a program
    # seeded once draws on the device what it drew on the CPU (one stream each), in the same order.
    x = torch.ones(4, 6)
    torch.manual_seed(3)
    steps = torch.randint(0, 10, (4,))
    expected = (steps, torch.randn_like(x), torch.nn.functional.dropout(x, 0.5))
    with pe.neuron():
        xn = x.to("neuron")
        torch.manual_seed(3)
        got = (torch.randint(0, 10, (4,), device="neuron"), torch.randn_like(xn),
               torch.nn.functional.dropout(xn, 0.5))
        assert all(g.device.type == "neuron" for g in got)
        for g, e in zip(got, expected, strict=True):
            assert torch.equal(g.cpu(), e)
        cpu_before = torch.random.get_rng_state()
        torch.randn_like(xn)
        assert torch.equal(torch.random.get_rng_state(), cpu_before)  # the CPU stream is left alone


def test_a_scalar_device_tensor_formats_as_its_number():
    with pe.neuron():
        norm = torch.tensor(0.5, device="neuron")
        assert f"{norm:.4f}" == "0.5000" and f"{norm:.1f}" == "0.5"


def test_factories_with_pin_memory_make_host_tensors_the_device_takes():
    with pe.neuron():
        staged = [torch.empty(2, 3, pin_memory=True).fill_(1.0), torch.zeros(4, pin_memory=True),
                  torch.tensor([1, 2], pin_memory=True), torch.ones(2).new_zeros(3, pin_memory=True)]
        assert [t.device.type for t in staged] == ["cpu"] * 4
        assert not any(t.is_pinned() for t in staged)
        moved = staged[0].to("neuron", non_blocking=True)
        assert moved.device.type == "neuron" and moved.cpu().sum().item() == 6.0


def test_factories_keep_working_in_torchscript_and_compiled_code():
    with pe.neuron():
        assert torch.zeros is not torch._C._VariableFunctions.zeros  # the pinning patch is in place

    @torch.jit.script
    def scripted(n: int) -> torch.Tensor:
        return torch.zeros(n) + torch.ones(n)

    assert scripted(3).tolist() == [1.0, 1.0, 1.0]
    with pe.neuron():
        compiled = torch.compile(lambda x: x + torch.zeros(3, device=x.device), backend="eager")
        assert compiled(torch.ones(3, device="neuron")).cpu().tolist() == [1.0, 1.0, 1.0]
