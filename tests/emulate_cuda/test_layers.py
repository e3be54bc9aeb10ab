"""Layers whose CUDA path differs from the CPU's (fused RNN cells, in-place views) give the CPU's numbers."""

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def _grads(model, x):
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    out.pow(2).sum().backward()
    return [out.detach().cpu()] + [p.grad.cpu() for p in model.parameters()] + [x.grad.cpu()]


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.LSTM(4, 5, num_layers=2, batch_first=True), (2, 3, 4)),
    (lambda: nn.GRU(4, 5, num_layers=2), (3, 2, 4)),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)), (2, 3, 6, 6)),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), (2, 5, 8)),
])
def test_forward_and_gradients_equal_the_cpu(emulated, make, shape):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(shape)
    with torch.no_grad():
        ref_model = make()
        ref_model.load_state_dict(model.state_dict())
    expected = _grads(ref_model, x.clone().requires_grad_())
    got = _grads(model.cuda(), x.cuda().requires_grad_())
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_in_place_views_update_the_emulated_tensor(emulated):
    x = torch.arange(6.0, device="cuda").view(2, 3)
    x.t_()
    assert x.shape == (3, 2) and torch.equal(x.cpu(), torch.arange(6.0).view(2, 3).t())
    with torch.inference_mode():
        y = torch.zeros(2, 3, device="cuda")
        y.transpose_(0, 1)
        assert y.shape == (3, 2)


def test_checkpoint_and_data_parallel(emulated):
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)).cuda()
    x = torch.randn(6, 4, device="cuda", requires_grad=True)
    y = checkpoint(model, x, use_reentrant=False)
    y.sum().backward()
    assert x.grad.is_cuda
    dp = nn.DataParallel(model)
    assert isinstance(dp, nn.DataParallel) and dp.module is model
    torch.testing.assert_close(dp(x.detach().cpu()).cpu(), model(x).detach().cpu())
