"""`torch.autocast("neuron", dtype=torch.bfloat16)` on the emulated device.

TorchNeuron's docs say autocast on `neuron` follows the CUDA conventions (Neuron docs,
pytorch-native-overview: "torch.autocast(device_type='neuron') (follows CUDA conventions)"). So the
op lists are PyTorch's CUDA autocast lists ("Autocast Op Reference", CUDA Op-Specific Behavior, in
PyTorch's amp documentation; the same ops as the AutocastCUDA registrations of torch 2.13):

* LOWER: matmuls and convolutions run in the autocast dtype;
* FP32: ops whose accuracy needs float32 (exp, log, pow, norms, losses, softmax, sums ...) run in float32;
* PROMOTE: ops with several floating inputs run in the widest of their dtypes;
* BANNED: ops CUDA's autocast refuses (binary_cross_entropy), refused with CUDA's message.

Every other op runs in the dtype of its inputs. Only floating tensors on the neuron device are cast
(float64 is left alone, as on CUDA), and each cast is counted in the run report.
"""

from __future__ import annotations

import torch

from porter.emulate.neuron_device import tensor as _tensor

LOWER = (
    "_convolution", "conv1d", "conv2d", "conv3d", "conv_tbc", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "convolution", "prelu", "addmm", "addmv", "addr", "matmul", "einsum", "mm", "mv",
    "linalg_vecdot", "linear", "addbmm", "baddbmm", "bmm", "chain_matmul", "linalg_multi_dot",
    "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell",
    "_scaled_dot_product_flash_attention", "scaled_dot_product_attention", "cudnn_convolution",
    "cudnn_convolution_transpose",
)
FP32 = (
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
    "sinh", "tan", "pow", "softplus", "layer_norm", "native_layer_norm", "group_norm", "frobenius_norm",
    "nuclear_norm", "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss", "nll_loss", "nll_loss2d",
    "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss",
    "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm", "logsumexp",
    "rms_norm", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
    "_upsample_bilinear2d_aa", "upsample_trilinear3d", "upsample_bicubic2d", "_upsample_bicubic2d_aa",
    # fp32 unless the caller names an output dtype (CUDA's fp32_set_opt_dtype / fp32_append_dtype)
    "prod", "softmax", "log_softmax", "cumprod", "cumsum", "linalg_vector_norm", "linalg_matrix_norm", "sum",
    "norm",
)
# `cross_entropy_loss` is on none of them: it runs as its parts, `log_softmax(x, dim, x.dtype)` (a dtype named:
# the input's) then `nll_loss` (fp32), as on CUDA. Refused under autocast, as on CUDA:
BANNED = ("binary_cross_entropy",)
_BANNED_MESSAGE = (
    "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
    "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast.")
PROMOTE = ("addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "grid_sampler", "index_put",
           "tensordot", "scatter_add")
# These take a `dtype=` argument: an explicit dtype from the caller wins over the fp32 policy.
_OPT_DTYPE = frozenset({"prod", "softmax", "log_softmax", "cumprod", "cumsum", "linalg_vector_norm",
                        "linalg_matrix_norm", "sum"})

_KEY = torch._C.DispatchKey.AutocastPrivateUse1
_lib = None
_fallthrough = None


def register() -> None:
    """Install the autocast kernels for the neuron device (once per process)."""
    global _lib
    if _lib is not None:
        return
    lib = torch.library.Library("aten", "IMPL")
    global _fallthrough
    _fallthrough = torch.library.Library("_", "IMPL")  # kept alive: a dropped Library unregisters itself
    _fallthrough.fallback(torch.library.fallthrough_kernel, "AutocastPrivateUse1")
    for policy, names in (("lower", LOWER), ("fp32", FP32), ("promote", PROMOTE), ("banned", BANNED)):
        for name in names:
            packet = getattr(torch.ops.aten, name, None)
            if packet is None:
                continue
            for overload in packet.overloads():
                op = getattr(packet, overload)
                if overload == "out" or any(a.alias_info is not None and a.alias_info.is_write
                                            for a in op._schema.arguments):
                    continue  # out= and in-place forms are not autocast (as on CUDA)
                qualified = name if overload == "default" else f"{name}.{overload}"
                lib.impl(qualified, _kernel(op, name, policy), "AutocastPrivateUse1")
    _lib = lib


def _is_device_float(x) -> bool:
    return isinstance(x, _tensor.NeuronTensor) and x.is_floating_point() and x.dtype != torch.float64


def _kernel(op, name: str, policy: str):
    # where the op takes `dtype` (an ATen caller such as cross_entropy_loss passes it by position)
    at = next((i for i, a in enumerate(op._schema.arguments) if a.name == "dtype" and not a.kwarg_only), None)

    def kernel(*args, **kwargs):
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(_KEY)):
            if policy == "banned":
                raise RuntimeError(_BANNED_MESSAGE)
            if policy == "lower":
                target = torch.get_autocast_dtype("neuron")
            elif policy == "fp32":
                named = kwargs.get("dtype") if at is None or len(args) <= at else args[at]
                if name in _OPT_DTYPE and named is not None:
                    return op(*args, **kwargs)
                target = torch.float32
            else:
                dtypes = [x.dtype for x in _flat(args, kwargs) if _is_device_float(x)]
                target = max(dtypes, key=lambda d: torch.finfo(d).bits) if dtypes else None
                if target is None or len(set(dtypes)) <= 1:
                    return op(*args, **kwargs)

            cast_any = False

            def cast(x):
                nonlocal cast_any
                if _is_device_float(x) and x.dtype != target:
                    cast_any = True
                    return x.to(target)
                return x

            args = tuple(_map(cast, a) for a in args)
            kwargs = {k: _map(cast, v) for k, v in kwargs.items()}
            state = _tensor._state
            if cast_any and state is not None:
                state.autocast_casts[(name, str(target).replace("torch.", ""))] += 1
            return op(*args, **kwargs)

    return kernel


def _map(fn, value):
    if isinstance(value, (list, tuple)):
        return type(value)(fn(v) for v in value)
    return fn(value)


def _flat(args, kwargs):
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value
