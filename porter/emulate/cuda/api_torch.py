"""The rest of torch a CUDA program touches: tensor placement, generators, default tensor types,
checkpoints, torch.compile, AMP, cuDNN/TF32 switches, and torch.distributed with NCCL."""

from __future__ import annotations

import functools

import torch

from porter.emulate.cuda import state
from porter.emulate.cuda.calllog import quiet
from porter.emulate.cuda.patches import Patcher
from porter.emulate.cuda.tensor import CudaTensor

_CPU = torch.device("cpu")


def _is_cuda_device(d) -> bool:
    if isinstance(d, torch.device):
        return d.type == "cuda"
    if isinstance(d, str):
        return d.split(":")[0] == "cuda"
    return False


def _tensor_methods(p: Patcher) -> None:
    T = torch.Tensor
    orig_cuda, orig_to = T.cuda, T.to

    @functools.wraps(orig_cuda)
    def cuda(self, device=None, non_blocking=False, memory_format=torch.preserve_format):
        state.log("Tensor.cuda", "copy into CPU memory behind an emulated cuda tensor")
        with quiet():
            return orig_cuda(self, device, non_blocking, memory_format=memory_format)

    @functools.wraps(orig_to)
    def to(self, *args, **kwargs):
        if any(_is_cuda_device(a) for a in args) or _is_cuda_device(kwargs.get("device")):
            state.log("Tensor.to(cuda)", "CPU memory behind an emulated cuda tensor")
            with quiet():
                return orig_to(self, *args, **kwargs)
        return orig_to(self, *args, **kwargs)

    def pin_memory(self, device=None):
        state.log("Tensor.pin_memory", "a copy in ordinary CPU memory, reported as pinned")
        out = self.clone()
        out._porter_pinned = True
        return out

    def is_pinned(self, device=None):
        return bool(getattr(self, "_porter_pinned", False))

    p.set(T, "cuda", cuda)
    p.set(T, "to", to)
    p.set(T, "pin_memory", pin_memory)
    p.set(T, "is_pinned", is_pinned)

    Module = torch.nn.Module
    orig_module_cuda = Module.cuda

    def module_cuda(self, device=None):
        state.log("nn.Module.cuda", "parameters and buffers copied behind emulated cuda tensors")
        with quiet():
            return orig_module_cuda(self, device)

    p.set(Module, "cuda", module_cuda)
    orig_module_to = Module.to

    @functools.wraps(orig_module_to)
    def module_to(self, *args, **kwargs):
        if any(_is_cuda_device(a) for a in args) or _is_cuda_device(kwargs.get("device")):
            state.log("nn.Module.to(cuda)", "parameters and buffers copied behind emulated cuda tensors")
            with quiet():
                return orig_module_to(self, *args, **kwargs)
        return orig_module_to(self, *args, **kwargs)

    p.set(Module, "to", module_to)


class _GeneratorMeta(type(torch._C.Generator)):
    def __instancecheck__(cls, obj):
        return isinstance(obj, torch._C.Generator)


class Generator(torch._C.Generator, metaclass=_GeneratorMeta):
    """torch.Generator: device="cuda" gives a CPU generator that reports the cuda device."""

    def __new__(cls, device="cpu"):
        d = torch.device(device) if not isinstance(device, torch.device) else device
        if d.type != "cuda":
            return torch._C.Generator(d)
        state.log("torch.Generator(device=cuda)", "a CPU generator reporting the cuda device")
        g = super().__new__(cls, "cpu")
        g._porter_device = torch.device("cuda", state.device_index(d))
        return g

    @property
    def device(self):
        return self._porter_device


def _legacy_tensor_types(p: Patcher) -> None:
    """torch.cuda.FloatTensor and friends, and set_default_tensor_type with them."""
    names = {"FloatTensor": torch.float32, "DoubleTensor": torch.float64, "HalfTensor": torch.float16,
             "BFloat16Tensor": torch.bfloat16, "ByteTensor": torch.uint8, "CharTensor": torch.int8,
             "ShortTensor": torch.int16, "IntTensor": torch.int32, "LongTensor": torch.int64,
             "BoolTensor": torch.bool}
    for name, dtype in names.items():
        p.set(torch.cuda, name, _legacy_type(name, dtype))
    orig_set_default = torch.set_default_tensor_type

    def set_default_tensor_type(t):
        cls = t if isinstance(t, type) else None
        if isinstance(t, str) and t.startswith("torch.cuda."):
            cls = getattr(torch.cuda, t.split(".")[-1])
        if cls is not None and getattr(cls, "_porter_cuda", False):
            state.log("torch.set_default_tensor_type(torch.cuda.*)",
                      f"torch.set_default_dtype({cls.dtype}) and torch.set_default_device('cuda')")
            torch.set_default_dtype(cls.dtype)
            torch.set_default_device("cuda")
            return
        return orig_set_default(t)

    p.set(torch, "set_default_tensor_type", set_default_tensor_type)
    orig_type = torch.Tensor.type

    def tensor_type(self, dtype=None, non_blocking=False, **kwargs):
        if dtype is None:
            if isinstance(self, CudaTensor):
                return "torch.cuda." + _type_name(self.dtype)
            return orig_type(self)
        cls = getattr(torch.cuda, dtype.split(".")[-1], None) if isinstance(dtype, str) and \
            dtype.startswith("torch.cuda.") else dtype
        if getattr(cls, "_porter_cuda", False):
            return self.to(device="cuda", dtype=cls.dtype, non_blocking=non_blocking)
        if isinstance(self, CudaTensor) and isinstance(dtype, str | type):
            return orig_type(self.cpu(), dtype, non_blocking).to(self.device)
        return orig_type(self, dtype, non_blocking, **kwargs)

    p.set(torch.Tensor, "type", tensor_type)


def _type_name(dtype) -> str:
    return {torch.float32: "FloatTensor", torch.float64: "DoubleTensor", torch.float16: "HalfTensor",
            torch.bfloat16: "BFloat16Tensor", torch.uint8: "ByteTensor", torch.int8: "CharTensor",
            torch.int16: "ShortTensor", torch.int32: "IntTensor", torch.int64: "LongTensor",
            torch.bool: "BoolTensor"}.get(dtype, "Tensor")


def _legacy_type(name: str, dtype):
    class Meta(type):
        def __instancecheck__(cls, obj):
            return isinstance(obj, CudaTensor) and obj.dtype == dtype

        def __repr__(cls):
            return f"<class 'torch.cuda.{name}'>"

    def new(cls, *args, **kwargs):
        state.log(f"torch.cuda.{name}", "an emulated cuda tensor")
        if len(args) == 1 and not isinstance(args[0], int):
            return torch.tensor(args[0], dtype=dtype, device="cuda")
        return torch.empty(*args, dtype=dtype, device="cuda")

    return Meta(name, (), {"__new__": new, "dtype": dtype, "is_cuda": True, "_porter_cuda": True,
                           "__module__": "torch.cuda"})


def _load(p: Patcher) -> None:
    orig_load = torch.load

    @functools.wraps(orig_load)
    def load(f, map_location=None, *args, **kwargs):
        target = _cuda_target(map_location)
        if target is None and map_location is not None:
            return orig_load(f, map_location, *args, **kwargs)
        state.log("torch.load", "loaded to CPU memory, tensors then moved behind emulated cuda tensors")
        with quiet():
            obj = orig_load(f, "cpu", *args, **kwargs)
            if target is None:  # saved from a GPU, no map_location: each tensor goes back where it was
                return obj
            return _to_device(obj, target)

    p.set(torch, "load", load)


def _cuda_target(map_location):
    if map_location is None:
        return None
    if callable(map_location) or isinstance(map_location, dict):
        return None
    return torch.device(map_location) if _is_cuda_device(map_location) else None


def _to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        moved = obj.to(device)
        if isinstance(obj, torch.nn.Parameter):
            return torch.nn.Parameter(moved, requires_grad=obj.requires_grad)
        return moved
    if isinstance(obj, dict):
        return type(obj)((k, _to_device(v, device)) for k, v in obj.items()) if type(obj) is not dict else {
            k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_to_device(v, device) for v in obj)
    if isinstance(obj, torch.nn.Module):
        return obj.to(device)
    return obj


def _compile(p: Patcher) -> None:
    def compile(model=None, *args, **kwargs):
        state.log("torch.compile", "eager execution (no compiler targets the emulated GPU)")
        if model is None:
            return lambda m: m
        return model

    p.set(torch, "compile", compile)


def _amp(p: Patcher) -> None:
    ac = torch.amp.autocast_mode.autocast
    orig_init = ac.__init__

    def autocast_init(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if device_type == "cuda":
            if enabled:
                d = dtype or torch.get_autocast_dtype("cuda")
                state.log("torch.autocast(cuda)", f"PyTorch's CUDA autocast policy ({d}) over CPU kernels")
            else:
                state.log("torch.autocast(cuda, enabled=False)", "CUDA autocast off for the block, as on a GPU")
        return orig_init(self, device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    p.set(ac, "__init__", autocast_init)
    gs = torch.amp.GradScaler
    orig_gs_init = gs.__init__

    def scaler_init(self, device="cuda", *args, **kwargs):
        if device == "cuda":
            state.log("GradScaler(cuda)", "torch.amp.GradScaler on the emulated device")
        return orig_gs_init(self, device, *args, **kwargs)

    p.set(gs, "__init__", scaler_init)
    for method in ("scale", "unscale_", "step", "update"):
        original = getattr(gs, method)

        def scaler_method(self, *args, _original=original, _name=method, **kwargs):
            if getattr(self, "_device", None) == "cuda":
                state.log(f"GradScaler.{_name}", "PyTorch's loss scaling on the emulated tensors")
                with quiet():
                    return _original(self, *args, **kwargs)
            return _original(self, *args, **kwargs)

        p.set(gs, method, functools.wraps(original)(scaler_method))
    for cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        original = cls.__init__

        def optimizer_init(self, *args, _original=original, _name=cls.__name__, **kwargs):
            if kwargs.get("fused"):
                state.log(f"{_name}(fused=True)", "PyTorch's fused CPU kernel of the optimizer")
            return _original(self, *args, **kwargs)

        p.set(cls, "__init__", functools.wraps(original)(optimizer_init))
    # the deprecated torch.cuda.amp spellings reach the above from inside torch: log them where the program wrote them
    for cls, call, instead in ((torch.cuda.amp.autocast, "torch.cuda.amp.autocast",
                                "PyTorch's CUDA autocast policy (float16) over CPU kernels"),
                               (torch.cuda.amp.GradScaler, "torch.cuda.amp.GradScaler",
                                "torch.amp.GradScaler on the emulated device")):
        orig = cls.__init__

        def init(self, *args, _orig=orig, _call=call, _instead=instead, **kwargs):
            state.log(_call, _instead)
            with quiet():
                return _orig(self, *args, **kwargs)

        p.set(cls, "__init__", init)
    loader = torch.utils.data.DataLoader
    orig_loader_init = loader.__init__

    def loader_init(self, *args, **kwargs):
        if kwargs.get("pin_memory"):
            state.log("DataLoader(pin_memory=True)", "batches copied in ordinary CPU memory, reported as pinned")
        return orig_loader_init(self, *args, **kwargs)

    p.set(loader, "__init__", loader_init)


def _backends(p: Patcher) -> None:
    p.set(torch.version, "cuda", "12.8")
    p.set(torch.backends.cuda, "is_built", lambda: True)
    cudnn = torch.backends.cudnn
    p.set(cudnn, "is_available", lambda: True)
    p.set(cudnn, "version", lambda: 90100)
    nccl = getattr(torch.cuda, "nccl", None)
    if nccl is not None:
        p.set(nccl, "version", lambda: (2, 21, 5))
        p.set(nccl, "is_available", lambda tensors: True)
    p.set(cudnn, "is_acceptable", lambda tensor: False)  # PyTorch's non-cuDNN CUDA paths, served on the CPU
    for module, label in ((cudnn, "torch.backends.cudnn"), (torch.backends.cuda.matmul, "torch.backends.cuda.matmul")):
        cls = type(module)
        orig_setattr = cls.__setattr__

        def setattr_logged(self, name, value, _orig=orig_setattr, _label=label):
            if not name.startswith("_"):
                state.log(f"{_label}.{name} = ...", "flag recorded; CPU kernels ignore it (fp32 math stays fp32)")
            return _orig(self, name, value)

        p.set(cls, "__setattr__", setattr_logged)


_CUDA_LIBS = ("libcudart", "libcuda.so", "libc10_cuda", "libtorch_cuda", "libcublas", "libcudnn", "libnccl")


def _extensions(p: Patcher) -> None:
    """A project's own CUDA extension, built at run time or prebuilt, fails with its name and why."""
    import importlib.machinery

    from torch.utils import cpp_extension

    def refuse(name, what):
        raise ImportError(f"{name} is {what}: compiled CUDA code cannot run under CUDA emulation; use a PyTorch "
                          "implementation of what it computes (see docs/cuda-emulation.md)", name=name)

    for fn_name in ("load", "load_inline"):
        original = getattr(cpp_extension, fn_name)

        def build(name, *args, _original=original, _fn=fn_name, **kwargs):
            sources = kwargs.get("sources", args[0] if args else [])
            sources = [sources] if isinstance(sources, str) else list(sources or [])
            if (kwargs.get("with_cuda") or kwargs.get("cuda_sources")
                    or any(str(s).endswith((".cu", ".cuh")) for s in sources)):
                state.log(f"torch.utils.cpp_extension.{_fn}", "refused: a CUDA extension")
                refuse(name, f"a CUDA extension built by torch.utils.cpp_extension.{_fn}")
            return _original(name, *args, **kwargs)

        p.set(cpp_extension, fn_name, build)

    loader = importlib.machinery.ExtensionFileLoader
    original_create = loader.create_module

    def create_module(self, spec):
        try:
            return original_create(self, spec)
        except ImportError as exc:
            if any(lib in str(exc) for lib in _CUDA_LIBS):
                refuse(spec.name, f"a compiled extension linked against the CUDA libraries ({self.path}; {exc})")
            raise

    p.set(loader, "create_module", create_module)


def install(p: Patcher) -> None:
    _tensor_methods(p)
    _extensions(p)
    p.set(torch, "Generator", Generator)
    _legacy_tensor_types(p)
    _load(p)
    _compile(p)
    _amp(p)
    _backends(p)
