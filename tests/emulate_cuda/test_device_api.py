"""The device API a CUDA program sees under emulation, and what it computes."""

import time

import pytest
import torch

import porter.emulate.cuda as pc
from porter.emulate.cuda.tensor import UnemulatableError


def test_device_api_reads_like_the_profile(emulated):
    assert torch.cuda.is_available()
    assert torch.cuda.device_count() == 2
    assert torch.cuda.get_device_name() == "NVIDIA A100-SXM4-80GB"
    assert torch.cuda.get_device_capability(0) == (8, 0)
    props = torch.cuda.get_device_properties(0)
    assert props.multi_processor_count == 108 and props.total_memory == 80 * 2**30
    assert torch.cuda.is_bf16_supported()
    assert torch.accelerator.current_accelerator() == torch.device("cuda")


@pytest.mark.parametrize("key, name, cap, bf16", [("h100", "NVIDIA H100 80GB HBM3", (9, 0), True),
                                                  ("v100", "Tesla V100-SXM2-32GB", (7, 0), False)])
def test_profiles_by_option(key, name, cap, bf16):
    with pc.cuda(profile=key):
        assert torch.cuda.get_device_name(0) == name
        assert torch.cuda.get_device_capability() == cap
        assert torch.cuda.is_bf16_supported() is bf16
    assert not torch.cuda.is_available()  # restored on exit


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown GPU profile 'b200'.*a100"):
        with pc.cuda(profile="b200"):
            pass


def test_tensors_placed_on_the_gpu_read_as_cuda(emulated):
    a = torch.randn(3, 4).cuda()
    b = torch.zeros(3, 4, device="cuda")
    c = torch.ones(2).to("cuda:1")
    assert a.is_cuda and a.device.type == "cuda" and a.device == torch.device("cuda", 0)
    assert b.device == torch.device("cuda:0") and c.device == torch.device("cuda:1")
    assert (a + b).device.type == "cuda"
    assert a.cpu().device.type == "cpu" and not a.cpu().is_cuda
    assert repr(c) == "tensor([1., 1.], device='cuda:1')"
    with pytest.raises(RuntimeError, match="same device.*cuda:0 and cuda:1"):
        torch.ones(2, device="cuda") + c
    with pytest.raises(RuntimeError, match="same device.*cuda:0 and cpu"):
        torch.ones(2, device="cuda") + torch.ones(2)
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        a.numpy()


def test_current_device_follows_set_device_and_device_context(emulated):
    assert torch.cuda.current_device() == 0
    with torch.cuda.device(1):
        assert torch.cuda.current_device() == 1
        assert torch.empty(2, device="cuda").device == torch.device("cuda:1")
    assert torch.cuda.current_device() == 0
    torch.cuda.set_device(1)
    assert torch.randn(2, device="cuda").device.index == 1
    torch.cuda.set_device(0)
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        torch.ones(1).to("cuda:2")


def test_training_step_matches_the_cpu_bit_for_bit(emulated):
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    gpu = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    gpu.load_state_dict(ref.state_dict())
    opt_gpu = torch.optim.AdamW(gpu.parameters(), lr=1e-2)  # made before .cuda(): must still see the params
    gpu.cuda()
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-2)
    x = torch.randn(5, 8)
    for model, opt, inp in ((ref, opt_ref, x), (gpu, opt_gpu, x.cuda())):
        loss = model(inp).pow(2).mean()
        loss.backward()
        opt.step()
    assert all(p.is_cuda for p in gpu.parameters())
    for p_ref, p_gpu in zip(ref.parameters(), gpu.parameters(), strict=True):
        assert p_gpu.grad.is_cuda
        assert torch.equal(p_ref, p_gpu.cpu())


def test_weight_tying_survives_cuda(emulated):
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleList([emb, head]).cuda()
    assert model[0].weight is model[1].weight and model[0].weight.is_cuda
    assert isinstance(model[0].weight, torch.nn.Parameter)


def test_autocast_follows_the_cuda_policy(emulated):
    a, b = torch.randn(4, 4, device="cuda"), torch.randn(4, 4, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        mm = a @ b
        soft = torch.softmax(mm, dim=-1)  # on CUDA's fp32 list
        assert mm.dtype == torch.float16 and soft.dtype == torch.float32
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert (a @ b).dtype == torch.bfloat16
    cpu_a, cpu_b = a.cpu(), b.cpu()
    with torch.autocast("cuda", dtype=torch.float16):
        assert (cpu_a @ cpu_b).dtype == torch.float32  # CPU tensors are not cast by CUDA autocast
    expected = (cpu_a.half() @ cpu_b.half())
    assert torch.equal(mm.cpu(), expected)


def test_grad_scaler_and_fused_adamw_run(emulated):
    model = torch.nn.Linear(4, 2).cuda()
    before = model.weight.detach().cpu().clone()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, fused=True)
    scaler = torch.amp.GradScaler("cuda", init_scale=1024.0)
    with torch.autocast("cuda"):
        loss = model(torch.randn(3, 4, device="cuda")).float().sum()
    scaler.scale(loss).backward()
    assert scaler.get_scale() == 1024.0
    scaler.step(opt)
    scaler.update()
    assert not torch.equal(before, model.weight.detach().cpu())


def test_legacy_default_tensor_type(emulated):
    try:
        torch.set_default_tensor_type(torch.cuda.HalfTensor)
        t = torch.zeros(3)
        assert t.is_cuda and t.dtype == torch.float16
        assert isinstance(t, torch.cuda.HalfTensor) and not isinstance(t, torch.cuda.FloatTensor)
    finally:
        torch.set_default_device(None)
        torch.set_default_dtype(torch.float32)


def test_streams_events_nvtx_and_memory_stats(emulated):
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        assert torch.cuda.current_stream() == s
        x = torch.ones(1024, device="cuda")
    torch.cuda.current_stream().wait_stream(s)
    x.record_stream(s)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    time.sleep(0.01)
    end.record()
    torch.cuda.synchronize()
    assert start.elapsed_time(end) >= 10.0
    torch.cuda.nvtx.range_push("x")
    torch.cuda.nvtx.range_pop()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    y = torch.empty(1 << 20, dtype=torch.uint8, device="cuda")
    assert torch.cuda.memory_allocated() - base == 1 << 20
    del y
    assert torch.cuda.memory_allocated() == base
    assert torch.cuda.max_memory_allocated() >= base + (1 << 20)
    assert torch.cuda.memory_stats()["allocated_bytes.all.current"] == base


def test_pin_memory_and_generators(emulated):
    t = torch.arange(4.0)
    pinned = t.pin_memory()
    assert pinned.is_pinned() and not t.is_pinned() and torch.equal(pinned, t)
    g = torch.Generator(device="cuda")
    g.manual_seed(1)
    assert g.device == torch.device("cuda", 0) and isinstance(g, torch.Generator)
    probs = torch.full((1, 4), 0.25, device="cuda")
    first = torch.multinomial(probs, 3, generator=g)
    g.manual_seed(1)
    assert torch.equal(first, torch.multinomial(probs, 3, generator=g))
    torch.cuda.manual_seed(5)
    a = torch.rand(3, device="cuda")
    torch.rand(100)  # the CPU stream moves on; the CUDA one is its own
    torch.cuda.manual_seed(5)
    assert torch.equal(a, torch.rand(3, device="cuda"))
    torch.manual_seed(7)  # seeds the CPU and every GPU, as on a real machine
    b = torch.rand(3, device="cuda")
    torch.cuda.manual_seed_all(7)
    assert torch.equal(b, torch.rand(3, device="cuda"))


def test_checkpoint_round_trip(emulated, tmp_path):
    model = torch.nn.Linear(3, 2).cuda()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", map_location="cuda")
    assert state["weight"].is_cuda and torch.equal(state["weight"].cpu(), model.weight.detach().cpu())


def test_unemulatable_features_name_the_feature_and_line(emulated):
    with pytest.raises(UnemulatableError, match=r"test_device_api\.py:\d+: torch\.cuda\.CUDAGraph"):
        torch.cuda.CUDAGraph()
    with pytest.raises(UnemulatableError, match=r"test_device_api\.py:\d+: torch\.cuda\.jiterator"):
        torch.cuda.jiterator._create_jit_fn("template <typename T> T f(T x) { return x; }")
    with pytest.raises(UnemulatableError, match="__cuda_array_interface__"):
        getattr(torch.ones(2, device="cuda"), "__cuda_array_interface__")  # noqa: B009


def test_the_call_log_names_lines_and_sums_up(tmp_path):
    path = tmp_path / "calls.log"
    with pc.cuda(log=path) as log:
        torch.cuda.is_available()
        x = torch.ones(2).cuda()
        torch.cuda.synchronize()
        del x
    text = path.read_text()
    assert "test_device_api.py:" in text and "torch.cuda.is_available -> True (emulated NVIDIA A100" in text
    assert "Tensor.cuda -> " in text and "torch.cuda.synchronize -> no-op" in text
    assert "porter CUDA emulation: 3 intercepted calls at 3 sites" in log.summary()


def test_deepcopy_keeps_parameters_on_the_gpu(emulated):
    import copy

    model = torch.nn.Linear(3, 2).cuda()
    ema = copy.deepcopy(model)
    assert isinstance(ema.weight, torch.nn.Parameter) and ema.weight.is_cuda and ema.weight.requires_grad
    assert ema.weight.data_ptr() != model.weight.data_ptr()
    with torch.no_grad():
        ema.weight.mul_(0.5)
    assert not torch.equal(ema.weight.cpu(), model.weight.detach().cpu())


def test_the_package_attribute_is_the_context_manager():
    import porter.emulate

    with porter.emulate.cuda(profile="h100"):
        assert torch.cuda.get_device_name() == "NVIDIA H100 80GB HBM3"
    assert not torch.cuda.is_available()


def test_indexing_with_cpu_indices_and_pinned_factories(emulated):
    x = torch.arange(4.0, device="cuda")
    assert x[torch.tensor([True, False, True, False])].tolist() == [0.0, 2.0]  # CPU masks and indices are allowed
    x[torch.tensor([1])] = 7.0
    assert x.tolist() == [0.0, 7.0, 2.0, 3.0] and x.is_cuda
    staged = torch.zeros(4, pin_memory=True)  # a pinned staging buffer, then an async copy
    staged.fill_(1.0)
    assert staged.to("cuda", non_blocking=True).tolist() == [1.0] * 4
    assert torch.linalg.inv(2 * torch.eye(3, device="cuda")).cpu().equal(0.5 * torch.eye(3))


def test_a_scalar_device_tensor_formats_as_its_number(emulated):
    loss = torch.tensor(1.23456, device="cuda")
    assert f"{loss:.3f}" == "1.235" and f"{loss}" == "1.2345600128173828"
    with pytest.raises(TypeError):
        f"{torch.ones(2, device='cuda'):.3f}"  # as on a real device: only a 0-dim tensor has a number
