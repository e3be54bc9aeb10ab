"""apex shims (normalization, optimizers, amp) vs apex's documented semantics (``originals``)."""

from __future__ import annotations

import warnings

import pytest
import torch
from porter.kernels.compat import UnsupportedArgumentError
from porter.kernels.compat.apex import amp
from porter.kernels.compat.apex.normalization import (
    FusedLayerNorm,
    FusedRMSNorm,
    MixedFusedLayerNorm,
    MixedFusedRMSNorm,
)
from porter.kernels.compat.apex.normalization import fused_layer_norm as fln
from porter.kernels.compat.apex.optimizers import FusedAdam, FusedLAMB, FusedSGD
from torch.func import functional_call

from . import originals
from .conftest import check_swap


def _randn(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def _params_call(mod):
    keys = [name for name, _ in mod.named_parameters()]
    return keys, lambda x, *ps: functional_call(mod, dict(zip(keys, ps, strict=True)), (x,))


# ---------------------------------------------------------------------------------------------------- normalization

@pytest.mark.parametrize("shape", [16, [4, 8]])
@pytest.mark.parametrize("affine", [True, False])
def test_fused_rms_norm(path, shape, affine):
    mod = FusedRMSNorm(shape, eps=1e-3, elementwise_affine=affine)
    assert list(mod.state_dict()) == (["weight"] if affine else [])
    assert mod.normalized_shape == torch.Size([shape] if isinstance(shape, int) else shape)
    x = _randn(3, 2, mod.normalized_shape.numel(), scale=0.02).reshape(3, 2, *mod.normalized_shape)  # eps matters
    keys, shim = _params_call(mod)
    ps = [_randn(*mod.normalized_shape, seed=1) + 1] if affine else []
    check_swap(path, shim,
               lambda x, *ps: originals.apex_rms_norm(x, mod.normalized_shape, ps[0] if ps else None, 1e-3),
               (x, *ps), kernels=("rmsnorm",))


@pytest.mark.parametrize("shape", [10, (2, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_fused_layer_norm(path, shape, affine):
    mod = FusedLayerNorm(shape, eps=1e-2, elementwise_affine=affine)
    assert list(mod.state_dict()) == (["weight", "bias"] if affine else [])
    x = (_randn(4, 10, scale=0.1) + 0.3).reshape(4, *mod.normalized_shape)
    keys, shim = _params_call(mod)
    ps = [_randn(*mod.normalized_shape, seed=1), _randn(*mod.normalized_shape, seed=2)] if affine else []
    check_swap(path, shim,
               lambda x, *ps: originals.apex_layer_norm(x, mod.normalized_shape, *(ps or [None, None]), 1e-2),
               (x, *ps), kernels=("layernorm",))


@pytest.mark.parametrize("cls,reference,keys", [
    (MixedFusedRMSNorm, lambda x, shape, w, b: originals.apex_rms_norm(x, shape, w, 1e-5), ["weight"]),
    (MixedFusedLayerNorm, lambda x, shape, w, b: originals.apex_layer_norm(x, shape, w, b, 1e-5),
     ["weight", "bias"]),
])
def test_mixed_modules_output_param_dtype(path, cls, reference, keys):
    mod = cls(8)
    assert list(mod.state_dict()) == keys
    x = _randn(3, 8).to(torch.bfloat16)
    with path.active():
        out = mod(x)
    assert out.dtype == torch.float32  # the parameters' dtype, not the input's
    expected = reference(x, (8,), mod.weight, getattr(mod, "bias", None))
    torch.testing.assert_close(out, expected.to(torch.float32), atol=1e-5, rtol=1e-4)
    with pytest.raises(RuntimeError, match="elementwise_affine"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls(8, elementwise_affine=False)


def test_non_mixed_output_input_dtype():
    x = _randn(2, 8).to(torch.bfloat16)
    assert FusedRMSNorm(8)(x).dtype == torch.bfloat16
    assert FusedLayerNorm(8)(x).dtype == torch.bfloat16


def test_functional_forms(path):
    x, w, b = _randn(3, 6), _randn(6, seed=1), _randn(6, seed=2)
    check_swap(path, lambda x, w, b: fln.fused_layer_norm_affine(x, w, b, (6,), 1e-5),
               lambda x, w, b: originals.apex_layer_norm(x, (6,), w, b, 1e-5), (x, w, b), kernels=("layernorm",))
    check_swap(path, lambda x: fln.fused_rms_norm(x, [6], 1e-5),
               lambda x: originals.apex_rms_norm(x, (6,), None, 1e-5), (x,), kernels=("rmsnorm",))


# ------------------------------------------------------------------------------------------------------- optimizers

def _problem(seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]


def _run(opt_params, opt, steps=4, grad_scale=1.0):
    for i in range(steps):
        for j, p in enumerate(opt_params):
            g = torch.randn(p.shape, generator=torch.Generator().manual_seed(100 * i + j)) * grad_scale
            p.grad = g
        opt.step()
    return [p.detach().clone() for p in opt_params]


@pytest.mark.parametrize("adam_w_mode", [True, False])
@pytest.mark.parametrize("bias_correction", [True, False])
def test_fused_adam_matches_apex_rule(adam_w_mode, bias_correction):
    kw = dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)
    a, b = _problem(), _problem()
    got = _run(a, FusedAdam(a, bias_correction=bias_correction, adam_w_mode=adam_w_mode, **kw))
    want = _run(b, originals.ApexAdam(b, adam_w_mode=adam_w_mode, bias_correction=bias_correction, **kw))
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("adam_w_mode,torch_cls", [(True, torch.optim.AdamW), (False, torch.optim.Adam)])
def test_fused_adam_matches_torch(adam_w_mode, torch_cls):
    kw = dict(lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05)
    a, b = _problem(), _problem()
    opt = FusedAdam(a, adam_w_mode=adam_w_mode, **kw)
    got = _run(a, opt)
    want = _run(b, torch_cls(b, **kw))
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)
    assert opt.param_groups[0]["step"] == 4
    assert set(opt.state[a[0]]) == {"exp_avg", "exp_avg_sq"}
    opt.zero_grad()
    assert all(p.grad is None for p in a)  # set_grad_none=True by default


def test_fused_adam_unsupported():
    with pytest.raises(ValueError, match="amsgrad") as info:
        FusedAdam(_problem(), amsgrad=True)
    assert isinstance(info.value, UnsupportedArgumentError)
    with pytest.raises(ValueError, match="master_weights"):
        FusedAdam(_problem(), master_weights=True)
    opt = FusedAdam(_problem())
    with pytest.raises(RuntimeError, match="has been updated"):
        opt.step(scale=2.0)


def test_fused_sgd_is_torch_sgd():
    kw = dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False)
    a, b = _problem(), _problem()
    opt = FusedSGD(a, **kw)
    assert isinstance(opt, torch.optim.SGD)
    for x, y in zip(_run(a, opt), _run(b, torch.optim.SGD(b, **kw)), strict=True):
        torch.testing.assert_close(x, y)
    opt.zero_grad()
    assert all(p.grad is not None and not p.grad.any() for p in a)  # set_grad_none=False: zeroed
    with pytest.raises(ValueError, match="wd_after_momentum"):
        FusedSGD(_problem(), lr=0.1, wd_after_momentum=True)
    with pytest.raises(ValueError, match="lr"):
        FusedSGD(_problem())


@pytest.mark.parametrize("kw", [
    dict(),                                                      # apex defaults: wd 0.01, AdamW mode
    dict(weight_decay=0.0, use_nvlamb=True, grad_averaging=False),
    dict(weight_decay=0.0),                                      # no trust ratio
    dict(adam_w_mode=False, bias_correction=False, max_grad_norm=0.5),
])
@pytest.mark.parametrize("grad_scale", [0.1, 10.0])  # below / above max_grad_norm: global clipping off / on
def test_fused_lamb_matches_apex_rule(kw, grad_scale):
    base = dict(lr=0.02, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
    base.update(kw)
    a, b = _problem(), _problem()
    got = _run(a, FusedLAMB(a, **base), grad_scale=grad_scale)
    want = _run(b, originals.ApexLamb(b, **base), grad_scale=grad_scale)
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)


def test_fused_lamb_unsupported():
    with pytest.raises(ValueError, match="amsgrad"):
        FusedLAMB(_problem(), amsgrad=True)


# ------------------------------------------------------------------------------------------------------------- amp

def _bf16_autocast_reference(model, x):
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        return model(x)


@pytest.mark.parametrize("opt_level", ["O1", "O2", "O3"])
def test_amp_initialize_runs_the_forward_under_bf16_autocast(opt_level):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    x = torch.randn(5, 8)
    expected = _bf16_autocast_reference(model, x)
    plain = model(x)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    m2, o2 = amp.initialize(model, opt, opt_level=opt_level)
    assert m2 is model and o2 is opt
    out = model(x)
    assert out.dtype == torch.bfloat16 and plain.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # parameters stay fp32: the optimizer holds fp32 master weights; checkpoints keep their keys and dtypes
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    loss = out.float().sum()
    with amp.scale_loss(loss, opt) as scaled:
        assert scaled is loss  # bf16 needs no loss scaling
        scaled.backward()
    assert model[0].weight.grad.dtype == torch.float32
    assert list(amp.master_params(opt)) == list(model.parameters())
    assert amp.state_dict() == {}


def test_amp_o0_and_disabled_leave_the_model_alone():
    model = torch.nn.Linear(3, 2)
    x = torch.ones(1, 3)
    assert amp.initialize(model, opt_level="O0") is model
    assert amp.initialize(model, enabled=False, opt_level="O1") is model
    assert model(x).dtype == torch.float32
    assert "forward" not in vars(model)


def test_amp_cast_model_outputs_and_several_models():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    models = amp.initialize([a, b], opt_level="O1", cast_model_outputs=torch.float32)
    assert models == [a, b]
    assert a(torch.ones(1, 3)).dtype == torch.float32 and b(torch.ones(1, 3)).dtype == torch.float32
    # a second initialize does not stack another autocast
    forward = a.forward
    amp.initialize(a, opt_level="O1")
    assert a.forward is forward


def test_amp_rejects_bad_arguments():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="opt_level"):
        amp.initialize(model, opt_level="O4")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        amp.initialize("not a model", opt_level="O1")


def _amp_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    amp.initialize(model, opt_level="O1")
    return model


def test_amp_deepcopy_runs_the_copys_own_weights():
    import copy

    model = _amp_model()
    x = torch.randn(5, 8)
    before = model(x)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for p in twin.parameters():
            p.zero_()
    out = twin(x)
    assert out.dtype == torch.bfloat16  # the copy still runs under autocast
    assert torch.count_nonzero(out) == 0  # ... with its own (zeroed) weights
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)  # the original is untouched
    assert twin.forward.module is twin and model.forward.module is model


def test_amp_model_pickles_whole(tmp_path):
    model = _amp_model()
    x = torch.randn(5, 8)
    expected = _bf16_autocast_reference(torch.nn.Sequential(*model), x)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    torch.save(model, tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=False)
    assert list(loaded.state_dict()) == list(model.state_dict())
    out = loaded(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    assert loaded.forward.module is loaded
    # the state_dict round trip into a fresh model gives the same numbers
    fresh = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
    fresh.load_state_dict(loaded.state_dict())
    torch.testing.assert_close(_bf16_autocast_reference(fresh, x), expected, rtol=0, atol=0)


def test_amp_exception_in_forward_leaves_autocast_exited():
    class Boom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x, fail=False):
            if fail:
                raise RuntimeError("boom")
            return self.lin(x)

    model = amp.initialize(Boom(), opt_level="O2")
    with pytest.raises(RuntimeError, match="boom"):
        model(torch.ones(1, 2), fail=True)
    assert not torch.is_autocast_enabled("cpu")
    assert model(torch.ones(1, 2)).dtype == torch.bfloat16
    assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32
    import inspect

    assert list(inspect.signature(model.forward).parameters) == ["x", "fail"]


def test_amp_keeps_a_forward_set_on_the_instance():
    model = torch.nn.Linear(3, 2)
    model.forward = lambda x: torch.nn.functional.linear(x, model.weight, model.bias) * 2  # noqa: PLW0108
    amp.initialize(model, opt_level="O1")
    x = torch.ones(1, 3)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        expected = torch.nn.functional.linear(x, model.weight, model.bias) * 2
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
