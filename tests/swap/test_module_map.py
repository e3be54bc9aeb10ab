"""The compat tree mirrors the originals' module paths and public names, and modules load the originals'
state_dicts (the contract ``porter port``'s prefix rewrite relies on)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
import torch

PREFIX = "porter.kernels.compat."

# original module path -> public names code imports from it
API = {
    "flash_attn": ["flash_attn_func", "flash_attn_qkvpacked_func", "flash_attn_kvpacked_func",
                   "flash_attn_varlen_func", "flash_attn_varlen_qkvpacked_func", "flash_attn_varlen_kvpacked_func"],
    "flash_attn.flash_attn_interface": ["flash_attn_func", "flash_attn_varlen_func"],
    "flash_attn.ops.rms_norm": ["rms_norm", "RMSNorm", "dropout_add_rms_norm", "DropoutAddRMSNorm"],
    "flash_attn.ops.layer_norm": ["layer_norm", "dropout_add_layer_norm", "DropoutAddLayerNorm"],
    "flash_attn.layers.rotary": ["apply_rotary_emb", "apply_rotary_emb_func", "apply_rotary_emb_qkv_",
                                 "apply_rotary_emb_kv_", "RotaryEmbedding"],
    "xformers.ops": ["memory_efficient_attention", "LowerTriangularMask", "SwiGLU", "swiglu", "unbind", "fmha"],
    "xformers.ops.fmha": ["memory_efficient_attention", "attn_bias", "BlockDiagonalMask", "LowerTriangularMask"],
    "xformers.ops.fmha.attn_bias": ["AttentionBias", "LowerTriangularMask", "LowerTriangularMaskWithTensorBias",
                                    "LowerTriangularFromBottomRightMask", "BlockDiagonalMask",
                                    "BlockDiagonalCausalMask"],
    "xformers.ops.swiglu_op": ["SwiGLU", "swiglu"],
    "apex.normalization": ["FusedLayerNorm", "FusedRMSNorm", "MixedFusedLayerNorm", "MixedFusedRMSNorm"],
    "apex.normalization.fused_layer_norm": ["FusedLayerNorm", "FusedRMSNorm", "fused_layer_norm_affine"],
    "apex.optimizers": ["FusedAdam", "FusedSGD", "FusedLAMB"],
    "apex.amp": ["initialize", "scale_loss", "master_params"],
    "liger_kernel.transformers": ["LigerRMSNorm", "LigerLayerNorm", "LigerSwiGLUMLP", "liger_rotary_pos_emb"],
    "mamba_ssm": ["selective_scan_fn", "mamba_inner_fn"],
    "mamba_ssm.ops.selective_scan_interface": ["selective_scan_fn", "mamba_inner_fn", "selective_scan_ref",
                                               "mamba_inner_ref"],
    "mamba_ssm.ops.triton.selective_state_update": ["selective_state_update"],
    "causal_conv1d": ["causal_conv1d_fn", "causal_conv1d_update"],
    "causal_conv1d.causal_conv1d_interface": ["causal_conv1d_fn", "causal_conv1d_update"],
}


@pytest.mark.parametrize("module", sorted(API))
def test_original_paths_resolve(module):
    mod = importlib.import_module(PREFIX + module)
    assert mod.__doc__ and mod.__doc__.strip(), f"{module}: shim module without a docstring"
    for name in API[module]:
        obj = getattr(mod, name)
        if callable(obj) and not isinstance(obj, type(importlib)):
            assert obj.__doc__, f"{module}.{name} has no docstring"


def test_from_package_import_submodule():
    from porter.kernels.compat.apex import amp  # `from apex import amp`
    from porter.kernels.compat.xformers import ops  # `from xformers import ops`

    assert callable(amp.initialize) and callable(ops.memory_efficient_attention)


def _modules():
    from porter.kernels.compat.apex.normalization import (
        FusedLayerNorm,
        FusedRMSNorm,
        MixedFusedLayerNorm,
        MixedFusedRMSNorm,
    )
    from porter.kernels.compat.flash_attn.ops.layer_norm import DropoutAddLayerNorm
    from porter.kernels.compat.flash_attn.ops.rms_norm import DropoutAddRMSNorm, RMSNorm
    from porter.kernels.compat.liger_kernel.transformers import LigerLayerNorm, LigerRMSNorm, LigerSwiGLUMLP
    from porter.kernels.compat.xformers.ops import SwiGLU

    cfg = SimpleNamespace(hidden_size=4, intermediate_size=6, hidden_act="silu")
    return {
        "apex.FusedRMSNorm": (FusedRMSNorm(4), {"weight": (4,)}),
        "apex.FusedLayerNorm": (FusedLayerNorm([2, 4]), {"weight": (2, 4), "bias": (2, 4)}),
        "apex.MixedFusedRMSNorm": (MixedFusedRMSNorm(4), {"weight": (4,)}),
        "apex.MixedFusedLayerNorm": (MixedFusedLayerNorm(4), {"weight": (4,), "bias": (4,)}),
        "flash_attn.RMSNorm": (RMSNorm(4), {"weight": (4,)}),
        "flash_attn.DropoutAddRMSNorm": (DropoutAddRMSNorm(4), {"weight": (4,)}),
        "flash_attn.DropoutAddLayerNorm": (DropoutAddLayerNorm(4), {"weight": (4,), "bias": (4,)}),
        "liger.LigerRMSNorm": (LigerRMSNorm(4), {"weight": (4,)}),
        "liger.LigerLayerNorm": (LigerLayerNorm(4), {"weight": (4,), "bias": (4,)}),
        "liger.LigerSwiGLUMLP": (LigerSwiGLUMLP(cfg), {"gate_proj.weight": (6, 4), "up_proj.weight": (6, 4),
                                                       "down_proj.weight": (4, 6)}),
        "xformers.SwiGLU": (SwiGLU(4, 6, 3), {"w12.weight": (12, 4), "w12.bias": (12,), "w3.weight": (3, 6),
                                              "w3.bias": (3,)}),
    }


@pytest.mark.parametrize("name", sorted(_modules()))
def test_state_dict_keys_load_strictly(name):
    module, keys = _modules()[name]
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == keys
    checkpoint = {k: torch.full(shape, 0.5) for k, shape in keys.items()}  # as saved by the original module
    module.load_state_dict(checkpoint, strict=True)
    assert all(torch.equal(v, torch.full_like(v, 0.5)) for v in module.state_dict().values())


def _swap_rule_names():
    import pathlib

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    rules = pathlib.Path(__file__).resolve().parents[2] / "rules" / "swaps.toml"
    if not rules.exists():
        return []
    names = []
    for rule in tomllib.loads(rules.read_text())["rule"]:
        fix = rule.get("fix", {}).get("neuron", {})
        if fix.get("transform") != "swap-import":
            continue
        for match in rule.get("match", []):
            names += match.get("names", [])
    return sorted(set(names))


@pytest.mark.parametrize("name", _swap_rule_names())
def test_every_name_the_port_swaps_has_a_shim(name):
    """``porter port`` rewrites an import when all its names are listed in rules/swaps.toml: each must exist."""
    try:
        importlib.import_module(PREFIX + name)
        return
    except ImportError:
        pass
    module, _, attr = name.rpartition(".")
    assert hasattr(importlib.import_module(PREFIX + module), attr), f"no shim for {name}"
