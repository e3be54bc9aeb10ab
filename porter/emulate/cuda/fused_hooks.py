"""Imports under CUDA emulation: fused-kernel libraries served by references, CUDA extensions refused.

A library that is installed is left alone. One that is not (flash_attn, xformers, apex,
liger_kernel, mamba_ssm, causal_conv1d) imports as porter's plain-PyTorch reference of its public
functions (porter/emulate/cuda/references/). A compiled CUDA extension (flash_attn_2_cuda,
selective_scan_cuda, ...) or a project's own `.cu` build raises an ImportError naming the extension
and the reference to use. When triton is imported, its driver becomes the emulated one.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

from porter.emulate.cuda import state


def _attention():
    from porter.emulate.cuda.references import attention

    return attention


def _layers():
    from porter.emulate.cuda.references import layers

    return layers


def _flash_attn():
    a = _attention()
    return {"__version__": "2.8.3", **{n: getattr(a, n) for n in (
        "flash_attn_func", "flash_attn_qkvpacked_func", "flash_attn_kvpacked_func", "flash_attn_varlen_func",
        "flash_attn_varlen_qkvpacked_func")}}


def _xformers_ops():
    a = _attention()
    return {"memory_efficient_attention": a.memory_efficient_attention, "LowerTriangularMask": a.LowerTriangularMask}


def _liger():
    lay = _layers()
    names = {n: getattr(lay, n) for n in ("LigerRMSNorm", "LigerCrossEntropyLoss", "LigerFusedLinearCrossEntropyLoss",
                                           "LigerSwiGLUMLP", "liger_rotary_pos_emb")}
    for family in ("llama", "mistral", "mixtral", "gemma", "gemma2", "qwen2", "phi3", "mllama", "qwen2_vl"):
        names[f"apply_liger_kernel_to_{family}"] = lay.apply_liger_kernel_noop
    names["AutoLigerKernelForCausalLM"] = None
    return names


# module name -> attributes of the stand-in module (a package when it has submodules below).
STAND_INS = {
    "flash_attn": _flash_attn,
    "flash_attn.flash_attn_interface": _flash_attn,
    "xformers": lambda: {"__version__": "0.0.30"},
    "xformers.ops": _xformers_ops,
    "xformers.ops.fmha": _xformers_ops,
    "xformers.ops.fmha.attn_bias": lambda: {"LowerTriangularMask": _attention().LowerTriangularMask},
    "apex": lambda: {},
    "apex.optimizers": lambda: {"FusedAdam": _layers().FusedAdam},
    "apex.normalization": lambda: {"FusedLayerNorm": _layers().FusedLayerNorm, "FusedRMSNorm": _layers().FusedRMSNorm},
    "liger_kernel": lambda: {},
    "liger_kernel.transformers": _liger,
    "mamba_ssm": lambda: {"__version__": "2.2.4"},
    "mamba_ssm.ops": lambda: {},
    "mamba_ssm.ops.selective_scan_interface": lambda: {"selective_scan_fn": _layers().selective_scan_fn},
    "causal_conv1d": lambda: {"causal_conv1d_fn": _layers().causal_conv1d_fn,
                              "causal_conv1d_update": _layers().causal_conv1d_update},
}

# compiled CUDA extension -> the reference a program can call instead.
EXTENSIONS = {
    "flash_attn_2_cuda": "flash_attn.flash_attn_func (porter's reference)",
    "flash_attn_cuda": "flash_attn.flash_attn_func (porter's reference)",
    "flash_attn_3_cuda": "flash_attn.flash_attn_func (porter's reference)",
    "selective_scan_cuda": "mamba_ssm.ops.selective_scan_interface.selective_scan_fn (porter's reference)",
    "causal_conv1d_cuda": "causal_conv1d.causal_conv1d_fn (porter's reference)",
    "fused_layer_norm_cuda": "apex.normalization.FusedLayerNorm / FusedRMSNorm (porter's reference)",
    "amp_C": "apex.optimizers.FusedAdam (porter's reference)",
    "fused_adam_cuda": "apex.optimizers.FusedAdam (porter's reference)",
    "xformers._C": "xformers.ops.memory_efficient_attention (porter's reference)",
    "rotary_emb": "the model's own rotary embedding in PyTorch",
    "dropout_layer_norm": "torch.nn.functional.dropout + layer_norm",
    "fused_dense_lib": "torch.nn.functional.linear",
}


class _StandInLoader(importlib.abc.Loader):
    def __init__(self, make):
        self.make = make

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__dict__.update(self.make())
        module.__porter_reference__ = True
        state.log(f"import {module.__name__}", "porter's plain-PyTorch reference (the package is not installed)")


class _ExtensionLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        raise ImportError(f"{name} is a compiled CUDA extension and cannot run under CUDA emulation; "
                          f"use {EXTENSIONS[name]}", name=name)


class _TritonLoader(importlib.abc.Loader):
    """Runs triton's own loader, then installs the emulated driver."""

    def __init__(self, inner, hook):
        self.inner, self.hook = inner, hook

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        self.hook.apply()


class EmulationFinder(importlib.abc.MetaPathFinder):
    def __init__(self, triton_hook):
        self.triton_hook = triton_hook
        self._busy = False

    def _real_spec(self, fullname, path):
        if self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path)
                if spec is not None:
                    return spec
        finally:
            self._busy = False
        return None

    def find_spec(self, fullname, path=None, target=None):
        if self._busy:
            return None
        if fullname == "triton":
            spec = self._real_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _TritonLoader(spec.loader, self.triton_hook)
            return spec
        if fullname in EXTENSIONS and self._real_spec(fullname, path) is None:
            return importlib.machinery.ModuleSpec(fullname, _ExtensionLoader())
        if fullname in STAND_INS:
            top = fullname.split(".")[0]
            if top in sys.modules and not getattr(sys.modules[top], "__porter_reference__", False):
                return None  # the real package is installed and imported
            if top == fullname and self._real_spec(fullname, path) is not None:
                return None  # installed
            is_package = any(other.startswith(fullname + ".") for other in STAND_INS)
            spec = importlib.machinery.ModuleSpec(fullname, _StandInLoader(STAND_INS[fullname]),
                                                  is_package=is_package)
            if is_package:
                spec.submodule_search_locations = []
            return spec
        return None


class Hooks(types.SimpleNamespace):
    pass


def install() -> Hooks:
    from porter.emulate.cuda import triton_support

    hook = triton_support.TritonHook()
    triton_support.set_interpret_env()
    hook.apply()
    finder = EmulationFinder(hook)
    sys.meta_path.insert(0, finder)
    return Hooks(finder=finder, triton=hook)


def uninstall(hooks: Hooks) -> None:
    from porter.emulate.cuda import triton_support

    if hooks.finder in sys.meta_path:
        sys.meta_path.remove(hooks.finder)
    for name in [n for n, m in sys.modules.items() if getattr(m, "__porter_reference__", False)]:
        del sys.modules[name]
    hooks.triton.undo()
    triton_support.restore_env()
