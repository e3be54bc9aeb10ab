"""Triton kernels through the interpreter, fused-library references, CUDA extensions refused."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import porter.emulate.cuda as pc

FIXTURES = Path(__file__).parent / "fixtures"


def test_triton_kernel_runs_in_the_interpreter_and_matches_pytorch():
    pytest.importorskip("triton")
    proc = subprocess.run([sys.executable, "-m", "porter", "run", "--device", "cuda", "--", "python",
                           str(FIXTURES / "triton_rmsnorm.py")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "device=cuda:0 max_abs_err=" in proc.stdout


def test_a_kernel_the_program_builds_and_edits_runs_in_the_interpreter():
    # triton.JITFunction(fn) with its source edited bypasses @triton.jit's interpreter switch
    pytest.importorskip("triton")
    proc = subprocess.run([sys.executable, "-m", "porter", "run", "--device", "cuda", "--", "python",
                           str(FIXTURES / "triton_edited_source.py")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "device=cuda:0 max_abs_err=0.0 first=[3.0, 6.0, 9.0]" in proc.stdout


def _sdpa_reference(q, k, v, causal):
    # (B, S, H, D) layout in and out, as flash-attn's
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
    return out.transpose(1, 2)


def test_flash_attn_reference_matches_sdpa(emulated):
    from flash_attn import flash_attn_func, flash_attn_qkvpacked_func

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 7, 4, 16, device="cuda", dtype=torch.float16) for _ in range(3))
    tol = {"atol": 2e-3, "rtol": 2e-3}  # fp16 output of an fp32 computation
    for causal in (False, True):
        out = flash_attn_func(q, k, v, causal=causal)
        assert out.is_cuda and out.shape == q.shape and out.dtype == torch.float16
        torch.testing.assert_close(out.float(), _sdpa_reference(q.float(), k.float(), v.float(), causal), **tol)
    packed = flash_attn_qkvpacked_func(torch.stack([q, k, v], dim=2), causal=True)
    torch.testing.assert_close(packed.float(), _sdpa_reference(q.float(), k.float(), v.float(), True), **tol)
    # GQA: two kv heads serve four query heads; causal aligned to the bottom right when seqlen_q < seqlen_k
    k2, v2 = (torch.randn(2, 9, 2, 16, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    q2 = torch.randn(2, 3, 4, 16, device="cuda", dtype=torch.bfloat16)
    out = flash_attn_func(q2, k2, v2, causal=True)
    kk, vv = k2.float().repeat_interleave(2, dim=2), v2.float().repeat_interleave(2, dim=2)
    scores = torch.einsum("bmhd,bnhd->bhmn", q2.float(), kk) / math.sqrt(16)
    allowed = torch.arange(9)[None, :] <= torch.arange(3)[:, None] + 6
    scores = scores.masked_fill(~allowed.to("cuda"), float("-inf"))
    expected = torch.einsum("bhmn,bnhd->bmhd", scores.softmax(-1), vv)
    torch.testing.assert_close(out.float(), expected, atol=1e-2, rtol=1e-2)
    with pytest.raises(RuntimeError, match="only support fp16 and bf16"):
        flash_attn_func(q.float(), k.float(), v.float())


def test_xformers_reference_matches_sdpa(emulated):
    import xformers.ops as xops

    q, k, v = (torch.randn(2, 5, 3, 8, device="cuda") for _ in range(3))
    out = xops.memory_efficient_attention(q, k, v, attn_bias=xops.LowerTriangularMask())
    torch.testing.assert_close(out, _sdpa_reference(q, k, v, True), atol=1e-5, rtol=1e-5)


def test_apex_liger_mamba_causal_conv_references(emulated):
    from apex.normalization import FusedRMSNorm
    from apex.optimizers import FusedAdam
    from causal_conv1d import causal_conv1d_fn
    from liger_kernel.transformers import LigerRMSNorm, apply_liger_kernel_to_llama
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    x = torch.randn(3, 8, device="cuda")
    expected = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(FusedRMSNorm(8, eps=1e-6).cuda()(x), expected)
    torch.testing.assert_close(LigerRMSNorm(8, eps=1e-6).cuda()(x), expected)
    assert apply_liger_kernel_to_llama() is None

    p = torch.nn.Parameter(torch.ones(2, device="cuda"))
    ref = torch.nn.Parameter(torch.ones(2, device="cuda"))
    opt, opt_ref = FusedAdam([p], lr=0.1, weight_decay=0.1), torch.optim.AdamW([ref], lr=0.1, weight_decay=0.1)
    for param, o in ((p, opt), (ref, opt_ref)):
        param.grad = torch.tensor([0.5, -1.0], device="cuda")
        o.step()
    assert torch.equal(p, ref)

    xs, w, b = torch.randn(2, 4, 6, device="cuda"), torch.randn(4, 3, device="cuda"), torch.randn(4, device="cuda")
    out = causal_conv1d_fn(xs, w, b, activation="silu")
    by_hand = torch.stack([sum(w[:, j] * F.pad(xs, (2, 0))[..., t + j] for j in range(3)) + b
                           for t in range(6)], dim=-1)
    torch.testing.assert_close(out, F.silu(by_hand))

    # selective scan with one state dimension and A=0, delta=1, B=C=1, D=0 is a running sum of u
    u = torch.randn(1, 2, 5, device="cuda")
    ones = torch.ones(1, 1, 5, device="cuda")
    y = selective_scan_fn(u, torch.ones_like(u), torch.zeros(2, 1, device="cuda"), ones, ones)
    torch.testing.assert_close(y, u.cumsum(-1))


def test_compiled_cuda_extensions_are_refused_with_the_reference(emulated):
    with pytest.raises(ImportError, match="flash_attn_2_cuda is a compiled CUDA extension.*flash_attn_func"):
        import flash_attn_2_cuda  # noqa: F401
    with pytest.raises(ImportError, match="selective_scan_cuda .*selective_scan_fn"):
        import selective_scan_cuda  # noqa: F401


def test_references_leave_with_the_emulation():
    with pc.cuda():
        import flash_attn

        assert flash_attn.__porter_reference__
    with pytest.raises(ImportError):
        import flash_attn  # noqa: F401,F811


def test_a_projects_own_cuda_extension_build_is_refused_by_name(emulated, tmp_path):
    from torch.utils.cpp_extension import load

    (tmp_path / "scan.cu").write_text("__global__ void scan() {}\n")
    with pytest.raises(ImportError, match="my_scan is a CUDA extension built by torch.utils.cpp_extension.load"):
        load("my_scan", sources=[str(tmp_path / "scan.cu")])


def test_storage_identity_for_shared_weight_detection(emulated):
    w = torch.ones(4, 2, device="cuda")
    assert w.untyped_storage().data_ptr() == w[1:].untyped_storage().data_ptr()
    assert w.untyped_storage().data_ptr() != w.clone().untyped_storage().data_ptr()
