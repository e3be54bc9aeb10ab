"""Property tests: each NKI kernel, run in the simulator, matches its PyTorch reference over random shapes
(including ragged tiles that are not multiples of 128) in fp32 and bf16."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from porter.kernels import registry

from .conftest import KERNEL_SETTINGS, assert_matches

pytestmark = pytest.mark.usefixtures("nki_sim")

DTYPES = st.sampled_from(["float32", "bfloat16"])
SEEDS = st.integers(0, 2**16)


def run(name: str, params: dict, dtype: str, seed: int):
    spec = registry.get(name)
    generator = torch.Generator().manual_seed(seed)
    tensors, kwargs = spec.make_inputs(params, getattr(torch, dtype), generator)
    return assert_matches(spec, tensors, kwargs, dtype)


# Row counts straddle the 128-partition tile; widths include odd and non-power-of-two sizes.
ROWS = st.one_of(st.integers(1, 8), st.integers(120, 140), st.integers(250, 260))
WIDTHS = st.one_of(st.integers(1, 16), st.integers(60, 200))


@KERNEL_SETTINGS
@given(n=ROWS, d=WIDTHS, weight=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_rmsnorm(n, d, weight, dtype, seed):
    run("rmsnorm", {"n": n, "d": d, "weight": weight}, dtype, seed)


@KERNEL_SETTINGS
@given(n=ROWS, d=st.integers(2, 200), affine=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_layernorm(n, d, affine, dtype, seed):
    run("layernorm", {"n": n, "d": d, "affine": affine}, dtype, seed)


@KERNEL_SETTINGS
@given(n=ROWS, d=st.integers(1, 700), scale=st.sampled_from([1.0, 3.0, 20.0]), dtype=DTYPES, seed=SEEDS)
def test_softmax(n, d, scale, dtype, seed):
    out, _ = run("softmax", {"n": n, "d": d, "scale": scale}, dtype, seed)
    sums = out.float().sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5 if dtype == "float32" else 2e-2)


@KERNEL_SETTINGS
@given(n=ROWS, d=WIDTHS, dtype=DTYPES, seed=SEEDS)
def test_swiglu(n, d, dtype, seed):
    run("swiglu", {"n": n, "d": d}, dtype, seed)


@KERNEL_SETTINGS
@given(n=ROWS, d=WIDTHS, approximate=st.sampled_from(["none", "tanh"]), dtype=DTYPES, seed=SEEDS)
def test_geglu(n, d, approximate, dtype, seed):
    run("geglu", {"n": n, "d": d, "approximate": approximate}, dtype, seed)


@KERNEL_SETTINGS
@given(b=st.integers(1, 2), h=st.integers(1, 3), s=st.one_of(st.integers(1, 9), st.integers(126, 140)),
       half=st.integers(1, 40), interleaved=st.booleans(), full_width=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_rotary(b, h, s, half, interleaved, full_width, dtype, seed):
    run("rotary", {"b": b, "h": h, "s": s, "d": 2 * half, "interleaved": interleaved, "full_width": full_width},
        dtype, seed)


MATMUL_DIMS = st.one_of(st.integers(1, 9), st.integers(120, 140), st.integers(250, 270))


@KERNEL_SETTINGS
@given(m=MATMUL_DIMS, k=MATMUL_DIMS, n=st.one_of(st.integers(1, 9), st.integers(500, 530)), bias=st.booleans(),
       dtype=DTYPES, seed=SEEDS)
def test_matmul(m, k, n, bias, dtype, seed):
    run("matmul", {"m": m, "k": k, "n": n, "bias": bias}, dtype, seed)


@KERNEL_SETTINGS
@given(m=MATMUL_DIMS, k=MATMUL_DIMS, n=st.one_of(st.integers(1, 9), st.integers(120, 140)), bias=st.booleans(),
       dtype=DTYPES, seed=SEEDS)
def test_linear(m, k, n, bias, dtype, seed):
    run("linear", {"m": m, "k": k, "n": n, "bias": bias}, dtype, seed)


@st.composite
def attention_params(draw):
    b = draw(st.integers(1, 2))
    hkv = draw(st.integers(1, 2))
    group = draw(st.integers(1, 3))
    sq = draw(st.one_of(st.integers(1, 9), st.integers(120, 140)))
    same = draw(st.booleans())
    sk = sq if same else draw(st.one_of(st.integers(1, 9), st.integers(120, 140), st.integers(500, 530)))
    d = draw(st.one_of(st.integers(1, 40), st.integers(120, 136)))
    params = {"b": b, "hq": hkv * group, "hkv": hkv, "sq": sq, "sk": sk, "d": d,
              "causal": draw(st.booleans()),
              "scale": draw(st.sampled_from([None, 0.3]))}
    if draw(st.booleans()):
        # right padding: key 0 is always kept, so no query row is fully masked (even with causal)
        params["lengths"] = [draw(st.integers(1, sk)) for _ in range(b)]
    return params


@KERNEL_SETTINGS
@given(params=attention_params(), dtype=DTYPES, seed=SEEDS)
def test_attention(params, dtype, seed):
    run("attention", params, dtype, seed)
