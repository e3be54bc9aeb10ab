"""`porter port` on a small mamba-style block written against the original mamba_ssm / causal_conv1d imports: the
ported file imports porter's drop-ins, runs on CPU, and matches the block computed here with plain loops (the
unported block cannot run here: mamba-ssm and causal-conv1d are CUDA-only), on the reference path and with the
selective scan in the NKI simulator. Refused arguments are marked."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from porter.config import Overrides  # noqa: E402
from porter.rewrite.report import build_report  # noqa: E402
from porter.rewrite.tree_port import PortOptions, port_tree  # noqa: E402

BLOCK = '''\
import torch
import torch.nn.functional as F
from torch import nn
from causal_conv1d import causal_conv1d_fn, causal_conv1d_update
from mamba_ssm.ops.selective_scan_interface import selective_scan_fn, mamba_inner_fn
from mamba_ssm.ops.triton.selective_state_update import selective_state_update


class TinyMamba(nn.Module):
    def __init__(self, d_model=6, d_inner=8, d_state=4, dt_rank=2, d_conv=4):
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        self.in_proj = nn.Linear(d_model, 2 * d_inner)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model)

    def forward(self, hidden, fused=False):
        length = hidden.shape[1]
        xz = self.in_proj(hidden).transpose(1, 2)
        A = -torch.exp(self.A_log.float())
        if fused:
            return mamba_inner_fn(xz, self.conv1d.weight, self.conv1d.bias, self.x_proj.weight,
                                  self.dt_proj.weight, self.out_proj.weight, self.out_proj.bias, A, None, None,
                                  self.D.float(), delta_bias=self.dt_proj.bias.float(), delta_softplus=True)
        x, z = xz.chunk(2, dim=1)
        x = causal_conv1d_fn(x, self.conv1d.weight.squeeze(1), self.conv1d.bias, activation="silu")
        x_dbl = self.x_proj(x.transpose(1, 2))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ self.dt_proj.weight.t()).transpose(1, 2)
        y = selective_scan_fn(x, dt, A, B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(), self.D,
                              z=z, delta_bias=self.dt_proj.bias, delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))

    def step(self, hidden, conv_state, ssm_state):
        xz = self.in_proj(hidden)
        x, z = xz.chunk(2, dim=-1)
        x = causal_conv1d_update(x, conv_state, self.conv1d.weight.squeeze(1), self.conv1d.bias, "silu")
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = dt @ self.dt_proj.weight.t()
        A = -torch.exp(self.A_log.float())
        y = selective_state_update(ssm_state, x, dt, A, B, C, self.D, z=z, dt_bias=self.dt_proj.bias,
                                   dt_softplus=True)
        return self.out_proj(y)


def packed(x, w, seq_idx):
    return causal_conv1d_fn(x, w, None, seq_idx)
'''


def naive_block(m, hidden):
    """The block's math from its definition, step by step over time, in float64."""
    p = {k: v.detach().double() for k, v in m.state_dict().items()}
    hidden = hidden.double()
    batch, length, _ = hidden.shape
    xz = hidden @ p["in_proj.weight"].t() + p["in_proj.bias"]
    x, z = xz[..., :8], xz[..., 8:]
    width = p["conv1d.weight"].shape[-1]
    w = p["conv1d.weight"][:, 0]
    A = -torch.exp(p["A_log"])
    out = torch.zeros(batch, length, 6, dtype=torch.float64)
    for b in range(batch):
        h = torch.zeros(8, 4, dtype=torch.float64)
        for t in range(length):
            acc = p["conv1d.bias"].clone()
            for j in range(width):
                src = t - (width - 1) + j
                if src >= 0:
                    acc = acc + w[:, j] * x[b, src]
            xc = acc * torch.sigmoid(acc)
            proj = p["x_proj.weight"] @ xc
            dt = torch.nn.functional.softplus(p["dt_proj.weight"] @ proj[:2] + p["dt_proj.bias"])
            B, C = proj[2:6], proj[6:10]
            h = torch.exp(dt[:, None] * A) * h + (dt * xc)[:, None] * B[None, :]
            y = (h @ C + p["D"] * xc) * (z[b, t] * torch.sigmoid(z[b, t]))
            out[b, t] = p["out_proj.weight"] @ y + p["out_proj.bias"]
    return out


@pytest.fixture(scope="module")
def ported(tmp_path_factory):
    root = tmp_path_factory.mktemp("mamba")
    src, out = root / "src", root / "out"
    src.mkdir()
    (src / "block.py").write_text(BLOCK)
    result = port_tree(src, PortOptions(target="neuron", out=out), Overrides(target="neuron"))
    assert not result.problems, result.problems
    report = json.loads(json.dumps(build_report(result)))
    return (out / "block.py").read_text(), report


def load(code: str) -> dict:
    scope: dict = {}
    exec(compile(code, "block.py", "exec"), scope)
    return scope


def test_port_swaps_every_ssm_import(ported):
    code, _ = ported
    for module in ("causal_conv1d", "mamba_ssm.ops.selective_scan_interface",
                   "mamba_ssm.ops.triton.selective_state_update"):
        assert f"from porter.kernels.compat.{module} import" in code
    assert "from causal_conv1d" not in code and "from mamba_ssm" not in code


def test_refused_argument_is_marked(ported):
    code, _ = ported
    lines = code.splitlines()
    at = next(i for i, line in enumerate(lines) if "causal_conv1d_fn(x, w, None, seq_idx)" in line)
    assert "NRN422" in lines[at - 1], lines[at - 1]


@pytest.mark.parametrize("simulated", [False, True], ids=["reference", "nki-simulated"])
@pytest.mark.parametrize("fused", [False, True], ids=["ops", "mamba_inner_fn"])
def test_ported_block_matches_naive_loop(ported, fused, simulated):
    import porter.kernels as K

    scope = load(ported[0])
    torch.manual_seed(0)
    block = scope["TinyMamba"]()
    hidden = torch.randn(2, 5, 6)
    K.reset_dispatch_counts()
    with torch.no_grad(), K.simulate(simulated):
        got = block(hidden, fused=fused)
    assert K.dispatch_counts("selective_scan") == {"simulate" if simulated else "reference": 1}
    torch.testing.assert_close(got.double(), naive_block(block, hidden), rtol=1e-4, atol=1e-5)


def test_ported_decode_steps_match_naive_loop(ported):
    scope = load(ported[0])
    torch.manual_seed(1)
    block = scope["TinyMamba"]()
    hidden = torch.randn(2, 4, 6)
    conv_state, ssm_state = torch.zeros(2, 8, 3), torch.zeros(2, 8, 4)
    with torch.no_grad():
        steps = torch.stack([block.step(hidden[:, t], conv_state, ssm_state) for t in range(4)], dim=1)
    torch.testing.assert_close(steps.double(), naive_block(block, hidden), rtol=1e-4, atol=1e-5)


def test_ported_block_trains(ported):
    scope = load(ported[0])
    block = scope["TinyMamba"]()
    block(torch.randn(1, 3, 6)).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in block.parameters())


def test_ported_refused_call_raises(ported):
    from porter.kernels.compat import UnsupportedArgumentError

    scope = load(ported[0])
    with pytest.raises(UnsupportedArgumentError, match="seq_idx"):
        scope["packed"](torch.randn(1, 2, 3), torch.randn(2, 4), torch.zeros(1, 3, dtype=torch.int32))


def test_port_report_lists_the_swaps(ported):
    _, report = ported
    swapped_lines = {row["line"] for row in report["swaps"] if row["rule"] == "NRN421"}
    assert {4, 5, 6} <= swapped_lines  # the three imports
    refused = [row for row in report["not_swapped"] if row["rule"] == "NRN421"]
    assert [row["line"] for row in refused] == [51]  # only the call passing seq_idx
    assert any(row["rule"] == "NRN422" and row["line"] == 51 for row in report["manual"])


DEVICE_SCOPED = '''\
import torch
from mamba_ssm.ops.selective_scan_interface import selective_scan_fn


def run(u, delta, A, B, C, idx=0):
    with torch.cuda.device(idx):
        return selective_scan_fn(u, delta, A, B, C)
'''


def test_cuda_device_scope_around_a_swapped_op_runs_on_cpu(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "scoped.py").write_text(DEVICE_SCOPED)
    result = port_tree(src, PortOptions(target="neuron", out=out), Overrides(target="neuron"))
    assert not result.problems, result.problems
    code = (out / "scoped.py").read_text()
    assert "torch.cuda.device" not in code and "porter.kernels.compat.mamba_ssm" in code
    u = torch.randn(1, 2, 3)
    got = load(code)["run"](u, u.abs(), -torch.rand(2, 4), torch.randn(1, 4, 3), torch.randn(1, 4, 3))
    assert got.shape == (1, 2, 3) and torch.isfinite(got).all()
